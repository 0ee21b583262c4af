//! The softphone's diagnostic log (`$BBCLIENT_LOG`, on stderr): one line per
//! event, whatever the event holds.
//!
//! Every field of every event and span — the message included, ours and
//! rsipstack's alike — is passed through [`bb_cti::redact::one_line`]
//! before it is written: a line break, a carriage return, an escape
//! sequence or a bidirectional control inside a value is written as a Rust
//! escape (`\r\n`, `\u{1b}`), so nothing from the network can start a log
//! line of its own or rewrite the terminal.
//!
//! This is what makes `BBCLIENT_LOG=trace` safe to turn on: at that level
//! rsipstack logs every SIP message it sends and receives with its CRLFs
//! (`responding … response=SIP/2.0 180 Ringing\r\nVia: …`), and those
//! messages carry the caller's display name, the From URI and any other
//! header a caller chose. We keep that trace — it is what a support
//! engineer needs — but each message becomes one escaped line instead of
//! one line per header. (The other choice, capping rsipstack below `trace`,
//! would lose the messages and still leave its `debug` fields to chance.)
//!
//! The digest password never reaches the log: rsipstack's `Credential` has
//! no `Debug`, our settings are never logged, and the `Authorization`
//! header carries only the digest's hash. SRTP keys ride in the SDP of
//! those messages (`a=crypto:1 AES_CM_… inline:KEY`): every `inline:` key
//! is written as `inline:<hidden>` ([`hide_sdes_keys`]), ours and the peer's.

use std::fmt;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// The default filter when `$BBCLIENT_LOG` is not set.
pub const DEFAULT_FILTER: &str = "warn,rsipstack=error";

/// Formats fields like tracing's default (`message key=value …`), then
/// escapes what could break the line (see the module docs).
#[derive(Debug, Default)]
pub struct OneLineFields {
    inner: DefaultFields,
}

impl OneLineFields {
    /// The default field format, made one-line.
    pub fn new() -> OneLineFields {
        OneLineFields::default()
    }
}

impl<'writer> FormatFields<'writer> for OneLineFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut text = String::new();
        self.inner.format_fields(Writer::new(&mut text), fields)?;
        writer.write_str(&hide_sdes_keys(&bb_cti::redact::one_line(&text)))
    }
}

/// Replaces the base64 key after each `inline:` (SDES, RFC 4568) with
/// `<hidden>`, so an SDP body in a log line keeps its shape but not its key.
pub fn hide_sdes_keys(text: &str) -> String {
    const MARK: &str = "inline:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        let (head, tail) = rest.split_at(i + MARK.len());
        out.push_str(head);
        let key_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
            .unwrap_or(tail.len());
        if key_len > 0 {
            out.push_str("<hidden>");
        }
        rest = &tail[key_len..];
    }
    out.push_str(rest);
    out
}

/// Prints one line for the person at the terminal (headless mode), on
/// stdout: `bbclient: LINE`, passed through [`bb_cti::redact::one_line`]
/// so that it stays one line whatever it holds.
pub fn say(line: impl AsRef<str>) {
    println!("bbclient: {}", bb_cti::redact::one_line(line.as_ref()));
}

/// Installs the log on stderr: the filter from `$BBCLIENT_LOG` (else
/// [`DEFAULT_FILTER`]), one line per event.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BBCLIENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(OneLineFields::new())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(f: impl FnOnce()) -> String {
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .fmt_fields(OneLineFields::new())
            .with_writer(move || out.clone())
            .with_ansi(false)
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = sink.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn srtp_keys_in_logged_sdp_are_hidden() {
        let sdp = "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QUJD\r\n";
        let text = logged(|| tracing::trace!(request = %sdp, "sending"));
        assert!(!text.contains("PS1u") && !text.contains("QUJD"), "{text}");
        assert!(
            text.contains("inline:<hidden>|2^20|1:4") && text.contains("_32 inline:<hidden>"),
            "{text}"
        );
        assert_eq!(
            hide_sdes_keys("no keys inline: here"),
            "no keys inline: here"
        );
    }

    #[test]
    fn a_message_from_the_network_stays_on_its_line() {
        let caller = "0901\nbbclient: hook: FORGED\r\u{1b}[2J\u{202e}x";
        let text = logged(|| {
            let span = tracing::info_span!("call", from = %caller);
            let _entered = span.enter();
            tracing::trace!(
                response = %format!("SIP/2.0 180 Ringing\r\nFrom: \"{caller}\""),
                "responding to {caller}"
            );
        });
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.ends_with('\n'));
        assert!(!text.contains('\r') && !text.contains('\u{1b}') && !text.contains('\u{202e}'));
        // (tracing-subscriber itself writes an ESC in a message as `\x1b`.)
        assert!(
            text.contains("responding to 0901\\nbbclient: hook: FORGED\\r\\"),
            "{text:?}"
        );
        assert!(text.contains("response=SIP/2.0 180 Ringing\\r\\nFrom:"));
        assert!(text.contains("call{from=0901\\nbbclient"), "{text:?}");
    }

    #[test]
    fn ordinary_fields_are_written_as_before() {
        let text = logged(|| tracing::info!(code = 200, who = "1910", "registered as {}", "1910"));
        assert!(
            text.trim_end()
                .ends_with("INFO registered as 1910 code=200 who=\"1910\""),
            "{text:?}"
        );
    }
}
