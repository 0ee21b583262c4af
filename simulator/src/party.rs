//! Scripts of simulated outside parties: the people on the public network
//! that extensions call, that the dialler calls, and that call in.
//!
//! A [`PartyScript`] says what a party does (ring, early media, answer after
//! N ms, busy, reject with a code, never answer, hang up after N ms, play a
//! tone or a WAV file, send DTMF, record). [`PartyPlan`] turns a script into a timeline: a
//! sans-IO machine with `start(now)`, `answered(now)`, `poll(now)` and
//! `poll_timeout()`, so the driver only sleeps and the timeline is tested
//! without a clock. The media itself is in [`crate::media`].

use serde::{Deserialize, Serialize};

use crate::registrar::Millis;

/// What a simulated outside party does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartyScript {
    /// The number pattern this rule applies to (`*` any run, `?` one
    /// character); only used in `[[parties]]` rules and `POST /api/parties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Send 180 Ringing when called.
    #[serde(default = "yes")]
    pub ring: bool,
    /// Answer this long after the call arrives; absent: never answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_after_ms: Option<u64>,
    /// Refuse the call with this SIP status (486 busy, 603 decline, 404 …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<u16>,
    /// When to refuse, after the call arrives.
    #[serde(default)]
    pub reject_after_ms: u64,
    /// Hang up this long after the call is answered; absent: stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup_after_ms: Option<u64>,
    /// What the party sends: `tone:440`, `tone:350+440`, `silence`,
    /// `wav:/path/file.wav` (8 kHz or any rate, mono or stereo; resampled
    /// naively), `echo` (sends back what it hears).
    #[serde(default = "default_play")]
    pub play: String,
    /// DTMF digits to send (RFC 4733) once answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf: Option<String>,
    /// When to start the DTMF, after answer.
    #[serde(default = "default_dtmf_ms")]
    pub dtmf_after_ms: u64,
    /// Record what the party hears (readable as WAV over the API).
    #[serde(default = "yes")]
    pub record: bool,
    /// Preferred codec: `PCMU` or `PCMA`.
    #[serde(default = "default_codec")]
    pub codec: String,
    /// Early media (called parties): answer the INVITE at once with 183
    /// Session Progress carrying the SDP answer and play `early_play` on it
    /// for this long; then answer with 200 (the same SDP, RFC 3264) at
    /// `answer_after_ms`, or at the end of the early media when that is
    /// absent (or refuse with `reject` at `reject_after_ms`). Early media
    /// that ends before the answer is followed by silence. Replaces the 180.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_media_ms: Option<u64>,
    /// Ring first (180 without SDP, when `ring`) and start the early media
    /// this long after the call arrives, as a network does that plays an
    /// announcement after some ringing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub early_media_after_ms: u64,
    /// What the party plays during early media (the values of `play`);
    /// absent: what `play` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_play: Option<String>,
    /// SRTP with SDES keys, as the softphone's `[audio] srtp`: `off` (the
    /// default: plain RTP, an `RTP/SAVP` offer is refused with 488),
    /// `optional` (keys offered in `RTP/AVP`, keys answered when offered)
    /// or `required` (`RTP/SAVP`; a call without keys is refused with 488,
    /// or hung up when the answer has none).
    #[serde(default = "default_srtp")]
    pub srtp: String,
    /// Answer each re-INVITE of an encrypted call with a fresh key of its
    /// own (RFC 4568 re-keying), to see that the far end follows.
    #[serde(default, skip_serializing_if = "is_false")]
    pub srtp_rekey: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn default_srtp() -> String {
    "off".to_string()
}

fn yes() -> bool {
    true
}
fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn default_play() -> String {
    "tone:440".to_string()
}
fn default_dtmf_ms() -> u64 {
    500
}
fn default_codec() -> String {
    "PCMU".to_string()
}

impl Default for PartyScript {
    fn default() -> Self {
        PartyScript {
            number: None,
            ring: true,
            answer_after_ms: None,
            reject: None,
            reject_after_ms: 0,
            hangup_after_ms: None,
            play: default_play(),
            dtmf: None,
            dtmf_after_ms: default_dtmf_ms(),
            record: true,
            codec: default_codec(),
            early_media_ms: None,
            early_media_after_ms: 0,
            early_play: None,
            srtp: default_srtp(),
            srtp_rekey: false,
        }
    }
}

/// What a party plays, parsed from [`PartyScript::play`].
#[derive(Debug, Clone, PartialEq)]
pub enum Play {
    /// Silence (still sends packets, so the far end sees RTP).
    Silence,
    /// A sum of sine tones at these frequencies (Hz).
    Tone(Vec<f32>),
    /// A WAV file.
    Wav(std::path::PathBuf),
    /// Sends back what it receives.
    Echo,
}

impl PartyScript {
    /// The SRTP policy (`off` when the value is not one, which
    /// [`PartyScript::check`] refuses).
    pub fn srtp_policy(&self) -> bb_sip::sdes::Policy {
        bb_sip::sdes::Policy::parse(&self.srtp).unwrap_or_default()
    }

    /// The longest early media accepted (10 minutes).
    pub const MAX_EARLY_MEDIA_MS: u64 = 600_000;

    /// The party that answers after 500 ms and plays 440 Hz: used for numbers
    /// that no rule matches.
    pub fn default_answering() -> PartyScript {
        PartyScript {
            answer_after_ms: Some(500),
            ..PartyScript::default()
        }
    }

    /// The built-in tenant's example rules.
    pub fn builtin_rules() -> Vec<PartyScript> {
        vec![
            PartyScript {
                number: Some("0120486*".into()),
                reject: Some(486),
                reject_after_ms: 200,
                ..PartyScript::default()
            },
            PartyScript {
                number: Some("0120603*".into()),
                reject: Some(603),
                reject_after_ms: 1000,
                ..PartyScript::default()
            },
            PartyScript {
                number: Some("0120000*".into()),
                ..PartyScript::default()
            },
            PartyScript {
                number: Some("0120183*".into()),
                early_media_ms: Some(3000),
                early_play: Some("tone:620".into()),
                ..PartyScript::default()
            },
            PartyScript {
                number: Some("08001*".into()),
                answer_after_ms: Some(1000),
                hangup_after_ms: Some(8000),
                play: "tone:620".into(),
                ..PartyScript::default()
            },
        ]
    }

    /// The parsed `play` value.
    pub fn play(&self) -> Result<Play, String> {
        parse_play(&self.play)
    }

    /// The parsed `early_play` value (`play` when absent).
    pub fn early_play(&self) -> Result<Play, String> {
        match &self.early_play {
            Some(p) => parse_play(p).map_err(|e| format!("early_{e}")),
            None => self.play(),
        }
    }

    /// When the party answers, after the call arrives: `answer_after_ms`,
    /// else the end of its early media, else never.
    pub fn answer_at(&self) -> Option<u64> {
        self.answer_after_ms
            .or(self.early_media_ms.map(|e| e + self.early_media_after_ms))
    }

    /// Checks the script; the error starts with the field name.
    pub fn check(&self) -> Result<(), String> {
        if let Play::Wav(path) = self.play()?
            && !path.is_file()
        {
            return Err(format!(
                "play: WAV file '{}' does not exist or is not a file",
                path.display()
            ));
        }
        if let Play::Wav(path) = self.early_play()?
            && !path.is_file()
        {
            return Err(format!(
                "early_play: WAV file '{}' does not exist or is not a file",
                path.display()
            ));
        }
        if let Some(ms) = self.early_media_ms
            && !(1..=Self::MAX_EARLY_MEDIA_MS).contains(&ms)
        {
            return Err(format!(
                "early_media_ms: {ms} is not 1..{} (ms of early media before the answer)",
                Self::MAX_EARLY_MEDIA_MS
            ));
        }
        if let Some(code) = self.reject
            && !(300..=699).contains(&code)
        {
            return Err(format!(
                "reject: {code} is not a SIP failure status (300..699)"
            ));
        }
        if let Some(d) = &self.dtmf
            && let Some(bad) = d.chars().find(|c| dtmf_event(*c).is_none())
        {
            return Err(format!("dtmf: '{bad}' is not a DTMF digit (0-9 * # A-D)"));
        }
        if bb_sip::sdes::Policy::parse(&self.srtp).is_none() {
            return Err(format!(
                "srtp: '{}' is not off, optional or required",
                self.srtp
            ));
        }
        if !matches!(self.codec.as_str(), "PCMU" | "PCMA") {
            return Err(format!("codec: '{}' is not PCMU or PCMA", self.codec));
        }
        if let Some(pat) = &self.number
            && (pat.is_empty() || pat.len() > 64)
        {
            return Err(format!("number: pattern '{pat}' is empty or too long"));
        }
        Ok(())
    }
}

/// Parses a `play` value: `tone:HZ[+HZ]`, `silence`, `echo`, `wav:PATH`.
pub fn parse_play(p: &str) -> Result<Play, String> {
    let p = p.trim();
    if p == "silence" {
        return Ok(Play::Silence);
    }
    if p == "echo" {
        return Ok(Play::Echo);
    }
    if let Some(freqs) = p.strip_prefix("tone:") {
        let mut v = Vec::new();
        for f in freqs.split('+') {
            let hz: f32 = f.trim().parse().map_err(|_| {
                format!("play: '{p}': '{f}' is not a frequency (write tone:440 or tone:350+440)")
            })?;
            if !(20.0..=3900.0).contains(&hz) {
                return Err(format!(
                    "play: '{p}': {hz} Hz is outside 20..3900 Hz (8 kHz sampling)"
                ));
            }
            v.push(hz);
        }
        return Ok(Play::Tone(v));
    }
    if let Some(path) = p.strip_prefix("wav:") {
        return Ok(Play::Wav(path.into()));
    }
    Err(format!(
        "play: '{p}' is not one of tone:HZ[+HZ], silence, echo, wav:PATH"
    ))
}

/// The RFC 4733 event code of a DTMF digit.
pub fn dtmf_event(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (c as u8 - b'A')),
        'a'..='d' => Some(12 + (c as u8 - b'a')),
        _ => None,
    }
}

/// The DTMF digit of an RFC 4733 event code.
pub fn dtmf_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// Glob match: `*` matches any run (also empty), `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// One thing a party does at a point of its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartyAction {
    /// Send 180 (called parties).
    Ring,
    /// Send 183 with the SDP answer and start the early media.
    EarlyMedia,
    /// The early media is over: send silence until the answer.
    EarlyMediaEnd,
    /// Answer (called parties).
    Answer,
    /// Refuse with this status (called parties).
    Reject(u16),
    /// Start sending these DTMF digits.
    Dtmf(String),
    /// Hang up.
    Hangup,
}

/// A party's timeline: a sans-IO machine.
///
/// Drain order: after `start` or `answered`, call `poll(now)` until `None`,
/// then sleep until `poll_timeout()`.
#[derive(Debug, Clone)]
pub struct PartyPlan {
    script: PartyScript,
    pending: Vec<(Millis, PartyAction)>,
    answered: bool,
}

impl PartyPlan {
    /// A plan for `script`.
    pub fn new(script: PartyScript) -> PartyPlan {
        PartyPlan {
            script,
            pending: Vec::new(),
            answered: false,
        }
    }

    /// The party is being called (at `now`): schedules ring (or early
    /// media), then answer or reject.
    pub fn called(&mut self, now: Millis) {
        let end = if let Some(code) = self.script.reject {
            let at = now + self.script.reject_after_ms;
            self.pending.push((at, PartyAction::Reject(code)));
            Some(at)
        } else if let Some(after) = self.script.answer_at() {
            self.pending.push((now + after, PartyAction::Answer));
            Some(now + after)
        } else {
            None
        };
        if let Some(early) = self.script.early_media_ms {
            let after = self.script.early_media_after_ms;
            if after > 0 && self.script.ring {
                self.pending.push((now, PartyAction::Ring));
            }
            let start = now + after;
            if after == 0 || end.is_none_or(|end| start < end) {
                self.pending.push((start, PartyAction::EarlyMedia));
            }
            if end.is_none_or(|end| start + early < end) {
                self.pending
                    .push((start + early, PartyAction::EarlyMediaEnd));
            }
        } else if self.script.ring {
            self.pending.push((now, PartyAction::Ring));
        }
    }

    /// The call is answered (by the party or, for a calling party, by the far
    /// end) at `now`: schedules DTMF and hang-up.
    pub fn answered(&mut self, now: Millis) {
        if self.answered {
            return;
        }
        self.answered = true;
        self.pending.retain(|(_, a)| {
            !matches!(
                a,
                PartyAction::Answer | PartyAction::Reject(_) | PartyAction::EarlyMediaEnd
            )
        });
        if let Some(d) = &self.script.dtmf {
            self.pending.push((
                now + self.script.dtmf_after_ms,
                PartyAction::Dtmf(d.clone()),
            ));
        }
        if let Some(after) = self.script.hangup_after_ms {
            self.pending.push((now + after, PartyAction::Hangup));
        }
    }

    /// The call ended: nothing more happens.
    pub fn ended(&mut self) {
        self.pending.clear();
    }

    /// The next due action.
    pub fn poll(&mut self, now: Millis) -> Option<PartyAction> {
        let (i, _) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= now)
            .min_by_key(|(i, (at, _))| (*at, *i))?;
        Some(self.pending.remove(i).1)
    }

    /// When the next action is due.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.pending.iter().map(|(at, _)| *at).min()
    }

    /// The script.
    pub fn script(&self) -> &PartyScript {
        &self.script
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut PartyPlan, now: Millis) -> Vec<PartyAction> {
        std::iter::from_fn(|| p.poll(now)).collect()
    }

    #[test]
    fn globs() {
        assert!(glob_match("0120*", "0120486001"));
        assert!(glob_match("*", ""));
        assert!(glob_match("09?1*9", "0901239"));
        assert!(!glob_match("0120*", "0130"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("0312345678", "0312345678"));
    }

    #[test]
    fn answering_party_timeline() {
        let mut p = PartyPlan::new(PartyScript {
            answer_after_ms: Some(1000),
            hangup_after_ms: Some(5000),
            dtmf: Some("12#".into()),
            dtmf_after_ms: 200,
            ..PartyScript::default()
        });
        p.called(100);
        assert_eq!(drain(&mut p, 100), vec![PartyAction::Ring]);
        assert_eq!(p.poll_timeout(), Some(1100));
        assert_eq!(drain(&mut p, 1099), vec![]);
        assert_eq!(drain(&mut p, 1100), vec![PartyAction::Answer]);
        p.answered(1100);
        assert_eq!(p.poll_timeout(), Some(1300));
        assert_eq!(
            drain(&mut p, 10_000),
            vec![PartyAction::Dtmf("12#".into()), PartyAction::Hangup]
        );
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn early_media_then_answer_with_the_same_timeline() {
        // 183 at once, early media for 3 s, then the answer (no 180).
        let mut p = PartyPlan::new(PartyScript {
            early_media_ms: Some(3000),
            early_play: Some("tone:620".into()),
            hangup_after_ms: Some(5000),
            ..PartyScript::default()
        });
        p.called(100);
        assert_eq!(drain(&mut p, 100), vec![PartyAction::EarlyMedia]);
        assert_eq!(p.poll_timeout(), Some(3100));
        assert_eq!(drain(&mut p, 3099), vec![]);
        assert_eq!(drain(&mut p, 3100), vec![PartyAction::Answer]);
        p.answered(3100);
        assert_eq!(p.poll_timeout(), Some(8100));
        assert_eq!(drain(&mut p, 8100), vec![PartyAction::Hangup]);
    }

    #[test]
    fn early_media_shorter_than_the_answer_ends_in_silence() {
        let mut p = PartyPlan::new(PartyScript {
            early_media_ms: Some(1000),
            answer_after_ms: Some(4000),
            ..PartyScript::default()
        });
        p.called(0);
        assert_eq!(drain(&mut p, 0), vec![PartyAction::EarlyMedia]);
        assert_eq!(drain(&mut p, 1000), vec![PartyAction::EarlyMediaEnd]);
        assert_eq!(drain(&mut p, 4000), vec![PartyAction::Answer]);
        // Answered early (by the API) while the early media plays: the
        // pending end of early media is dropped with the answer.
        let mut q = PartyPlan::new(PartyScript {
            early_media_ms: Some(1000),
            answer_after_ms: Some(4000),
            ..PartyScript::default()
        });
        q.called(0);
        assert_eq!(drain(&mut q, 0), vec![PartyAction::EarlyMedia]);
        q.answered(500);
        assert_eq!(drain(&mut q, 10_000), vec![]);
    }

    #[test]
    fn ringing_first_then_early_media_then_the_answer() {
        let mut p = PartyPlan::new(PartyScript {
            early_media_ms: Some(3000),
            early_media_after_ms: 2000,
            ..PartyScript::default()
        });
        p.called(0);
        assert_eq!(drain(&mut p, 0), vec![PartyAction::Ring]);
        assert_eq!(drain(&mut p, 1999), vec![]);
        assert_eq!(drain(&mut p, 2000), vec![PartyAction::EarlyMedia]);
        assert_eq!(drain(&mut p, 5000), vec![PartyAction::Answer]);
    }

    #[test]
    fn early_media_then_reject_and_never_answering() {
        let mut p = PartyPlan::new(PartyScript {
            early_media_ms: Some(2000),
            reject: Some(404),
            reject_after_ms: 2000,
            ..PartyScript::default()
        });
        p.called(0);
        assert_eq!(drain(&mut p, 0), vec![PartyAction::EarlyMedia]);
        assert_eq!(drain(&mut p, 2000), vec![PartyAction::Reject(404)]);
        // Early media with a reject much later: silence in between.
        let mut q = PartyPlan::new(PartyScript {
            early_media_ms: Some(500),
            reject: Some(486),
            reject_after_ms: 2000,
            ..PartyScript::default()
        });
        q.called(0);
        assert_eq!(
            drain(&mut q, 5000),
            vec![
                PartyAction::EarlyMedia,
                PartyAction::EarlyMediaEnd,
                PartyAction::Reject(486)
            ]
        );
    }

    #[test]
    fn early_media_values_are_checked() {
        let s = |ms: Option<u64>, play: Option<&str>| PartyScript {
            early_media_ms: ms,
            early_play: play.map(str::to_string),
            ..PartyScript::default()
        };
        assert!(s(Some(3000), Some("tone:620")).check().is_ok());
        assert_eq!(
            s(Some(3000), None).early_play(),
            Ok(Play::Tone(vec![440.0]))
        );
        assert!(
            s(Some(0), None)
                .check()
                .unwrap_err()
                .starts_with("early_media_ms:")
        );
        assert!(
            s(Some(3000), Some("tone:x"))
                .check()
                .unwrap_err()
                .starts_with("early_play:")
        );
        assert_eq!(s(Some(3000), None).answer_at(), Some(3000));
        let toml = "number = \"1*\"\nearly_media_ms = 3000\nearly_play = \"tone:620\"\n";
        let parsed: PartyScript = toml::from_str(toml).expect("parses");
        assert_eq!(parsed.early_media_ms, Some(3000));
    }

    #[test]
    fn busy_and_silent_parties() {
        let mut busy = PartyPlan::new(PartyScript {
            reject: Some(486),
            ring: false,
            answer_after_ms: Some(10),
            ..PartyScript::default()
        });
        busy.called(0);
        assert_eq!(drain(&mut busy, 0), vec![PartyAction::Reject(486)]);
        let mut never = PartyPlan::new(PartyScript::default());
        never.called(0);
        assert_eq!(drain(&mut never, 1_000_000), vec![PartyAction::Ring]);
        assert_eq!(never.poll_timeout(), None);
    }

    #[test]
    fn play_values() {
        let s = |p: &str| PartyScript {
            play: p.into(),
            ..PartyScript::default()
        };
        assert_eq!(s("tone:350+440").play(), Ok(Play::Tone(vec![350.0, 440.0])));
        assert_eq!(s("silence").play(), Ok(Play::Silence));
        assert!(s("tone:5000").play().is_err());
        assert!(s("tone:x").check().is_err());
        assert!(s("wav:/nonexistent/x.wav").check().is_err());
        let bad_dtmf = PartyScript {
            dtmf: Some("1x".into()),
            ..PartyScript::default()
        };
        assert!(bad_dtmf.check().unwrap_err().starts_with("dtmf:"));
    }

    #[test]
    fn dtmf_codes_round_trip() {
        for c in "0123456789*#ABCD".chars() {
            assert_eq!(dtmf_digit(dtmf_event(c).expect("digit")), Some(c));
        }
        assert_eq!(dtmf_event('x'), None);
    }
}
