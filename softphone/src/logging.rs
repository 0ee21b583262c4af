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
//! header carries only the digest's hash.

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
        writer.write_str(&bb_cti::redact::one_line(&text))
    }
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
