//! The tones a phone plays to its own user: the ringtone, ringback, busy
//! and call waiting — each a [`Cadence`] (frequencies, an optional
//! amplitude modulation, an on/off pattern) that a [`CadenceGenerator`]
//! turns into samples at any rate — and [`segments`], which reads a
//! recording back into on/off runs, so tests can check the cadence that
//! was actually heard.
//!
//! The national plans ([`TonePlan`]) follow the published values:
//!
//! | plan | ringback | busy | call waiting |
//! | --- | --- | --- | --- |
//! | `jp` (NTT) | 400 Hz × 16 Hz, 1 s on, 2 s off | 400 Hz, 0.5 s on, 0.5 s off | 400 Hz, 0.1 on 0.1 off 0.1 on 3 s off |
//! | `us` (ANSI T1.401) | 440 + 480 Hz, 2 s on, 4 s off | 480 + 620 Hz, 0.5 / 0.5 | 440 Hz, 0.3 s on, 9.7 s off |
//! | `eu` (CEPT/ETSI) | 425 Hz, 1 s on, 4 s off | 425 Hz, 0.5 / 0.5 | 425 Hz, 0.2 on 0.2 off 0.2 on 3 s off |
//!
//! The built-in ringtone (the same in every plan) is a 1300 Hz tone
//! warbled at 16 Hz in a double ring: 0.4 s on, 0.2 s off, 0.4 s on, 2 s
//! off — unlike any network tone, so an operator never mistakes it for one.

use std::f64::consts::TAU;

use crate::tone::goertzel_power;

/// One tone's recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Cadence {
    /// The frequencies summed, Hz (one or two).
    pub freqs: Vec<f64>,
    /// Amplitude modulation (Japan's 16 Hz "warble"), Hz; `None` for a
    /// steady tone.
    pub modulation_hz: Option<f64>,
    /// `(on, off)` pairs in milliseconds, repeated; an `off` of 0 joins
    /// the next `on`.
    pub pattern: Vec<(u32, u32)>,
    /// Peak level of the sum, dB below full scale.
    pub level_dbfs: f64,
}

impl Cadence {
    fn new(freqs: &[f64], modulation_hz: Option<f64>, pattern: &[(u32, u32)]) -> Cadence {
        Cadence {
            freqs: freqs.to_vec(),
            modulation_hz,
            pattern: pattern.to_vec(),
            level_dbfs: -12.0,
        }
    }

    /// The same tone at another level.
    pub fn at_level(mut self, level_dbfs: f64) -> Cadence {
        self.level_dbfs = level_dbfs.min(0.0);
        self
    }

    /// One period of the pattern, ms.
    pub fn period_ms(&self) -> u64 {
        self.pattern.iter().map(|&(a, b)| a as u64 + b as u64).sum()
    }

    /// Whether the tone sounds `ms` into the pattern.
    pub fn is_on(&self, ms: u64) -> bool {
        let period = self.period_ms();
        if period == 0 {
            return false;
        }
        let mut t = ms % period;
        for &(on, off) in &self.pattern {
            if t < on as u64 {
                return true;
            }
            t -= on as u64;
            if t < off as u64 {
                return false;
            }
            t -= off as u64;
        }
        false
    }

    /// The pattern as the runs a listener hears (adjacent runs of the
    /// same kind joined), one period long.
    pub fn runs(&self) -> Vec<(bool, u32)> {
        let mut runs: Vec<(bool, u32)> = Vec::new();
        for &(on, off) in &self.pattern {
            for (sounding, ms) in [(true, on), (false, off)] {
                if ms == 0 {
                    continue;
                }
                match runs.last_mut() {
                    Some((s, len)) if *s == sounding => *len += ms,
                    _ => runs.push((sounding, ms)),
                }
            }
        }
        runs
    }
}

/// Which tone a plan is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToneKind {
    /// The local ringtone (a call comes in).
    Ringtone,
    /// Ringback (the called party is being alerted).
    Ringback,
    /// Busy (486 / 600).
    Busy,
    /// Call waiting (a second call while talking).
    CallWaiting,
}

/// A national set of call-progress tones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TonePlan {
    /// Japan (NTT), the default.
    Jp,
    /// North America.
    Us,
    /// Europe (CEPT).
    Eu,
}

impl TonePlan {
    /// Every plan, with its settings word.
    pub const ALL: [(TonePlan, &'static str); 3] = [
        (TonePlan::Jp, "jp"),
        (TonePlan::Us, "us"),
        (TonePlan::Eu, "eu"),
    ];

    /// Looks a settings word up (`jp`, `us`, `eu`; any case).
    pub fn parse(word: &str) -> Option<TonePlan> {
        Self::ALL
            .iter()
            .find(|(_, w)| w.eq_ignore_ascii_case(word.trim()))
            .map(|&(p, _)| p)
    }

    /// The recipe of `kind` in this plan.
    pub fn cadence(self, kind: ToneKind) -> Cadence {
        use ToneKind::*;
        use TonePlan::*;
        match (self, kind) {
            (_, Ringtone) => Cadence::new(&[1300.0], Some(16.0), &[(400, 200), (400, 2000)]),
            (Jp, Ringback) => Cadence::new(&[400.0], Some(16.0), &[(1000, 2000)]),
            (Jp, Busy) => Cadence::new(&[400.0], None, &[(500, 500)]),
            (Jp, CallWaiting) => Cadence::new(&[400.0], None, &[(100, 100), (100, 3000)]),
            (Us, Ringback) => Cadence::new(&[440.0, 480.0], None, &[(2000, 4000)]),
            (Us, Busy) => Cadence::new(&[480.0, 620.0], None, &[(500, 500)]),
            (Us, CallWaiting) => Cadence::new(&[440.0], None, &[(300, 9700)]),
            (Eu, Ringback) => Cadence::new(&[425.0], None, &[(1000, 4000)]),
            (Eu, Busy) => Cadence::new(&[425.0], None, &[(500, 500)]),
            (Eu, CallWaiting) => Cadence::new(&[425.0], None, &[(200, 200), (200, 3000)]),
        }
    }
}

/// Plays a [`Cadence`] as samples, from its start, phase-continuous
/// across calls; the rate may change between calls (a device reopened).
#[derive(Clone, Debug)]
pub struct CadenceGenerator {
    cadence: Cadence,
    /// Position in the pattern, in microseconds (exact at 8/16/48 kHz).
    elapsed_us: u64,
    phases: Vec<f64>,
    mod_phase: f64,
    /// Linear gain on top of the level (volume), `0..=1`.
    gain: f64,
}

impl CadenceGenerator {
    /// Starts `cadence` at its beginning.
    pub fn new(cadence: Cadence) -> CadenceGenerator {
        let n = cadence.freqs.len();
        CadenceGenerator {
            cadence,
            elapsed_us: 0,
            phases: vec![0.0; n],
            mod_phase: 0.0,
            gain: 1.0,
        }
    }

    /// Sets the volume, `0..=100` percent of the tone's level.
    pub fn set_volume(&mut self, percent: u8) {
        self.gain = f64::from(percent.min(100)) / 100.0;
    }

    /// The recipe being played.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// Milliseconds played so far.
    pub fn elapsed_ms(&self) -> u64 {
        self.elapsed_us / 1000
    }

    /// Writes the next `out.len()` samples at `rate` Hz.
    pub fn fill(&mut self, rate: u32, out: &mut [i16]) {
        let rate = rate.max(1);
        let peak = 32767.0 * 10f64.powf(self.cadence.level_dbfs / 20.0) * self.gain;
        let per_tone = peak / self.cadence.freqs.len().max(1) as f64;
        let step_us = 1_000_000.0 / rate as f64;
        let mut t_us = self.elapsed_us as f64;
        for o in out.iter_mut() {
            let on = self.cadence.is_on(t_us as u64 / 1000);
            let mut v = 0.0;
            for (phase, &f) in self.phases.iter_mut().zip(&self.cadence.freqs) {
                if on {
                    v += phase.sin();
                }
                *phase = (*phase + TAU * f / rate as f64) % TAU;
            }
            if let Some(m) = self.cadence.modulation_hz {
                // Fully modulated: the envelope runs from 0 to 1.
                v *= 0.5 * (1.0 - self.mod_phase.cos());
                self.mod_phase = (self.mod_phase + TAU * m / rate as f64) % TAU;
            }
            *o = (v * per_tone).round().clamp(-32767.0, 32767.0) as i16;
            t_us += step_us;
        }
        self.elapsed_us = t_us.round() as u64;
    }
}

/// One run of a recording: the tone sounding or not, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The tone was heard.
    pub on: bool,
    /// Length, ms.
    pub ms: u32,
}

/// Splits `samples` into runs where a tone at `freq` is heard or not,
/// judged on 20 ms windows: heard when that component is above
/// `-45 dBFS` and carries at least a quarter of the window's power.
/// Adjacent windows of the same kind are joined.
pub fn segments(samples: &[i16], rate: u32, freq: f64) -> Vec<Run> {
    let win = (rate as usize / 50).max(1);
    let floor = 32767.0f64 * 32767.0 / 2.0 * 10f64.powf(-45.0 / 10.0);
    let mut runs: Vec<Run> = Vec::new();
    for chunk in samples.chunks(win) {
        if chunk.len() < win {
            break;
        }
        // 20 ms resolves 400 Hz from 480 Hz (the US tones) and still
        // catches a 100 ms burst.
        let power = goertzel_power(chunk, rate, freq);
        let total = chunk.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / chunk.len() as f64;
        let on = power > floor && total > 0.0 && power / total > 0.25;
        match runs.last_mut() {
            Some(r) if r.on == on => r.ms += 20,
            _ => runs.push(Run { on, ms: 20 }),
        }
    }
    runs
}

/// Whether `runs` (from [`segments`]) follow `cadence`: from one of the
/// first runs on, at least `periods` whole periods match the pattern's
/// runs within `tolerance_ms` each, and a run follows them (the last run
/// may be cut by the end of the recording). Returns what was wrong.
pub fn matches(
    runs: &[Run],
    cadence: &Cadence,
    periods: usize,
    tolerance_ms: u32,
) -> Result<(), String> {
    let want = cadence.runs();
    if want.is_empty() {
        return Err("the cadence has no pattern".into());
    }
    let show = |rs: &[Run]| {
        rs.iter()
            .map(|r| format!("{}{}", if r.on { "on " } else { "off " }, r.ms))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The pattern may start at any of the first few runs (a double ring
    // has two "on" runs per period); a first run cut by the start of the
    // recording simply fails its length check.
    let candidates: Vec<usize> = (0..runs.len().min(want.len() * 2 + 2))
        .filter(|&i| runs[i].on == want[0].0)
        .collect();
    if candidates.is_empty() || !runs.iter().any(|r| r.on) {
        return Err(format!("no tone heard (runs: {})", show(runs)));
    }
    let need = want.len() * periods;
    let mut first_error = None;
    for start in candidates {
        let body = &runs[start..];
        // The last run may be cut by the end of the recording.
        let whole = body.len().saturating_sub(1);
        let outcome = if whole < need {
            Err(format!(
                "only {whole} whole runs heard, {need} needed for {periods} periods of {want:?} (runs: {})",
                show(runs)
            ))
        } else {
            body[..need]
                .iter()
                .enumerate()
                .find_map(|(i, r)| {
                    let (on, ms) = want[i % want.len()];
                    (r.on != on || r.ms.abs_diff(ms) > tolerance_ms).then(|| {
                        format!(
                            "run {} is {} {} ms, the cadence wants {} {ms} ms (runs: {})",
                            i + 1,
                            if r.on { "on" } else { "off" },
                            r.ms,
                            if on { "on" } else { "off" },
                            show(runs)
                        )
                    })
                })
                .map_or(Ok(()), Err)
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_default())
}

/// How strongly `samples` (a stretch where the tone sounds) are amplitude
/// modulated at `mod_hz` around `freq`: the sidebands' power over the
/// carrier's (0.5 for full modulation, ~0 for a steady tone).
pub fn modulation_depth(samples: &[i16], rate: u32, freq: f64, mod_hz: f64) -> f64 {
    let carrier = goertzel_power(samples, rate, freq);
    if carrier <= 0.0 {
        return 0.0;
    }
    let sides =
        goertzel_power(samples, rate, freq - mod_hz) + goertzel_power(samples, rate, freq + mod_hz);
    sides / carrier
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(c: Cadence, rate: u32, ms: u32) -> Vec<i16> {
        let mut g = CadenceGenerator::new(c);
        let mut out = vec![0i16; (rate as u64 * ms as u64 / 1000) as usize];
        // In 20 ms frames, as a player would.
        for frame in out.chunks_mut(rate as usize / 50) {
            g.fill(rate, frame);
        }
        out
    }

    #[test]
    fn japanese_ringback_is_heard_with_its_cadence_and_warble() {
        let c = TonePlan::Jp.cadence(ToneKind::Ringback);
        let x = play(c.clone(), 8000, 9500);
        let runs = segments(&x, 8000, 400.0);
        matches(&runs, &c, 2, 60).unwrap_or_else(|e| panic!("{e}"));
        // The first second is the tone, warbled at 16 Hz.
        let depth = modulation_depth(&x[..8000], 8000, 400.0, 16.0);
        assert!(depth > 0.3, "{depth}");
        // A steady tone has no sidebands.
        let busy = play(TonePlan::Jp.cadence(ToneKind::Busy), 8000, 500);
        assert!(modulation_depth(&busy, 8000, 400.0, 16.0) < 0.05);
    }

    #[test]
    fn every_plan_matches_its_own_cadence_at_every_rate() {
        for (plan, _) in TonePlan::ALL {
            for kind in [
                ToneKind::Ringtone,
                ToneKind::Ringback,
                ToneKind::Busy,
                ToneKind::CallWaiting,
            ] {
                let c = plan.cadence(kind);
                for rate in [8000, 16_000, 48_000] {
                    let ms = (c.period_ms() * 3 + 500) as u32;
                    let x = play(c.clone(), rate, ms);
                    let runs = segments(&x, rate, c.freqs[0]);
                    matches(&runs, &c, 2, 60)
                        .unwrap_or_else(|e| panic!("{plan:?} {kind:?} at {rate}: {e}"));
                }
            }
        }
    }

    #[test]
    fn a_wrong_cadence_or_frequency_is_told_apart() {
        let ringback = TonePlan::Jp.cadence(ToneKind::Ringback);
        let busy = TonePlan::Jp.cadence(ToneKind::Busy);
        let x = play(busy.clone(), 8000, 5000);
        let e = matches(&segments(&x, 8000, 400.0), &ringback, 2, 60)
            .expect_err("busy is not ringback");
        assert!(e.contains("run 1 is on 500 ms"), "{e}");
        // The US busy tone is not heard at 400 Hz at all.
        let us = play(TonePlan::Us.cadence(ToneKind::Busy), 8000, 3000);
        let e = matches(&segments(&us, 8000, 400.0), &busy, 2, 60)
            .expect_err("no 400 Hz in the US busy tone");
        assert!(e.contains("no tone heard"), "{e}");
        // Silence.
        assert!(matches(&segments(&[0; 16000], 8000, 400.0), &busy, 1, 60).is_err());
    }

    #[test]
    fn volume_and_level_scale_the_samples() {
        let c = TonePlan::Jp.cadence(ToneKind::Busy).at_level(-6.0);
        let mut g = CadenceGenerator::new(c);
        let mut loud = vec![0i16; 400];
        g.fill(8000, &mut loud);
        let peak = loud.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((16_000..=16_500).contains(&peak), "{peak}");
        let mut g = CadenceGenerator::new(TonePlan::Jp.cadence(ToneKind::Busy));
        g.set_volume(0);
        let mut quiet = vec![1i16; 400];
        g.fill(8000, &mut quiet);
        assert!(quiet.iter().all(|&s| s == 0));
        assert_eq!(g.elapsed_ms(), 50);
    }

    #[test]
    fn plans_parse_from_their_words() {
        assert_eq!(TonePlan::parse(" JP "), Some(TonePlan::Jp));
        assert_eq!(TonePlan::parse("eu"), Some(TonePlan::Eu));
        assert_eq!(TonePlan::parse("uk"), None);
    }
}
