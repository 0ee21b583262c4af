//! Packet-loss concealment for G.711, after ITU-T G.711 Appendix I.
//!
//! Feed every decoded frame through [`Plc::good_frame`]; when the jitter
//! buffer says [`crate::jitter::Pulled::Conceal`], call [`Plc::conceal`]
//! instead of decoding. The algorithm:
//!
//! 1. Keep the last 48.75 ms of output as history.
//! 2. At the start of an erasure, estimate the pitch period (2.5–15 ms) by
//!    normalised autocorrelation of the last 20 ms against the history,
//!    taking the first peak within 3 % of the best (so a multiple of the
//!    period, which correlates as well, is not chosen).
//! 3. Synthesise by repeating the last pitch period. The repeated block is
//!    made loopable by overlap-adding its last quarter period with the
//!    samples that preceded it, so the loop has no click.
//! 4. After 10 ms of erasure, repeat the last two periods, after 20 ms the
//!    last three (less buzz), cross-fading a quarter period at each switch.
//! 5. Attenuate linearly by 20 % per 10 ms from 10 ms on; silence from 60 ms.
//! 6. On the first good frame, overlap-add the synthetic continuation with
//!    the real signal over 4 ms, plus 4 ms per further 10 ms of erasure (at
//!    most 10 ms).
//!
//! Simplifications against Appendix I: no 3.75 ms output delay (so the
//! junction into the first concealed sample is not smoothed), and a full
//! rather than coarse-then-fine pitch search (the history is short enough).

/// Concealment state for one G.711 stream.
#[derive(Clone, Debug)]
pub struct Plc {
    /// Samples per millisecond.
    per_ms: usize,
    hist: Vec<f32>,
    hist_len: usize,
    pitch_min: usize,
    pitch_max: usize,
    corr_len: usize,
    /// Samples concealed in the current erasure (0: not concealing).
    erased: usize,
    pitch: usize,
    periods: usize,
    looped: Vec<f32>,
    pos: usize,
    /// Previous loop, while cross-fading after a period-count switch.
    fading: Option<(Vec<f32>, usize, usize)>,
}

impl Plc {
    /// Concealment for a stream at `sample_rate` (8000 for G.711; any
    /// multiple of 1000 works).
    pub fn new(sample_rate: u32) -> Plc {
        let per_ms = (sample_rate as usize / 1000).max(1);
        let hist_len = per_ms * 390 / 8; // 48.75 ms
        Plc {
            per_ms,
            hist: vec![0.0; hist_len],
            hist_len,
            pitch_min: per_ms * 5 / 2,
            pitch_max: per_ms * 15,
            corr_len: per_ms * 20,
            erased: 0,
            pitch: 0,
            periods: 1,
            looped: Vec::new(),
            pos: 0,
            fading: None,
        }
    }

    /// Pitch period (in samples) used by the current or last erasure.
    pub fn pitch(&self) -> Option<usize> {
        (self.pitch > 0).then_some(self.pitch)
    }

    /// True while an erasure is in progress.
    pub fn concealing(&self) -> bool {
        self.erased > 0
    }

    fn push_history(&mut self, s: &[f32]) {
        let n = s.len().min(self.hist_len);
        self.hist.copy_within(n.., 0);
        let at = self.hist_len - n;
        self.hist[at..].copy_from_slice(&s[s.len() - n..]);
    }

    /// Records a correctly received frame, smoothing the transition if it
    /// ends an erasure. `frame` is modified in place.
    pub fn good_frame(&mut self, frame: &mut [i16]) {
        if self.erased > 0 {
            let extra_10ms = (self.erased / (10 * self.per_ms)).saturating_sub(1);
            let ola = (self.per_ms * (4 + 4 * extra_10ms))
                .min(self.per_ms * 10)
                .min(frame.len());
            let mut synth = vec![0.0f32; ola];
            self.synthesise(&mut synth);
            for (j, (x, s)) in frame.iter_mut().zip(&synth).enumerate() {
                let w = (j + 1) as f32 / (ola + 1) as f32;
                *x = clamp16((1.0 - w) * s + w * *x as f32);
            }
            self.erased = 0;
            self.fading = None;
        }
        let f: Vec<f32> = frame.iter().map(|&x| x as f32).collect();
        self.push_history(&f);
    }

    /// Writes a concealment frame into `out`.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.erased == 0 {
            self.pitch = self.estimate_pitch();
            self.periods = 1;
            self.looped = self.build_loop(1);
            self.pos = 0;
            self.fading = None;
        }
        let mut synth = vec![0.0f32; out.len()];
        self.synthesise(&mut synth);
        for (o, s) in out.iter_mut().zip(&synth) {
            *o = clamp16(*s);
        }
        self.push_history(&synth);
    }

    /// Produces the next `out.len()` synthetic samples, advancing the
    /// erasure clock.
    fn synthesise(&mut self, out: &mut [f32]) {
        let ten = 10 * self.per_ms;
        for o in out.iter_mut() {
            // Switch to more periods at 10 ms and 20 ms.
            let want = 1 + (self.erased / ten).min(2);
            if want != self.periods && self.looped.len() > 1 {
                let old = std::mem::take(&mut self.looped);
                let old_pos = self.pos;
                self.periods = want;
                self.looped = self.build_loop(want);
                self.pos = old_pos % self.pitch.max(1);
                let ov = (self.pitch / 4).max(1);
                self.fading = Some((old, old_pos, ov));
            }
            let mut s = self.looped.get(self.pos).copied().unwrap_or(0.0);
            if let Some((old, opos, left)) = self.fading.as_mut() {
                let ov = (self.pitch / 4).max(1);
                let w = *left as f32 / (ov + 1) as f32;
                s = w * old.get(*opos).copied().unwrap_or(0.0) + (1.0 - w) * s;
                *opos = (*opos + 1) % old.len().max(1);
                *left -= 1;
                if *left == 0 {
                    self.fading = None;
                }
            }
            if !self.looped.is_empty() {
                self.pos = (self.pos + 1) % self.looped.len();
            }
            let gain = if self.erased < ten {
                1.0
            } else {
                (1.0 - 0.2 * (self.erased - ten) as f32 / ten as f32).max(0.0)
            };
            *o = s * gain;
            self.erased += 1;
        }
    }

    /// The last `periods` pitch periods of history, with the loop point
    /// smoothed by overlap-add.
    fn build_loop(&self, periods: usize) -> Vec<f32> {
        let p = self.pitch.max(1);
        let len = (p * periods).min(self.hist_len - p / 4 - 1);
        let n = self.hist_len;
        let mut l = self.hist[n - len..].to_vec();
        let ov = (p / 4).max(1).min(len);
        for j in 0..ov {
            let w = (j + 1) as f32 / (ov + 1) as f32;
            let i = len - ov + j;
            l[i] = (1.0 - w) * l[i] + w * self.hist[n - len - ov + j];
        }
        l
    }

    /// Pitch period maximising the normalised correlation between the last
    /// `corr_len` samples and the history one period earlier.
    fn estimate_pitch(&self) -> usize {
        let n = self.hist_len;
        let x = &self.hist[n - self.corr_len..];
        let corr = |p: usize| -> f32 {
            let y = &self.hist[n - self.corr_len - p..n - p];
            let (mut xy, mut yy) = (0.0f32, 0.0f32);
            for (a, b) in x.iter().zip(y) {
                xy += a * b;
                yy += b * b;
            }
            if yy <= 1e-3 { 0.0 } else { xy / yy.sqrt() }
        };
        let c: Vec<f32> = (self.pitch_min..=self.pitch_max).map(corr).collect();
        let best_c = c.iter().copied().fold(0.0f32, f32::max);
        // Octave-error guard: the first local peak nearly as strong as the
        // best one is the period (its multiples correlate just as well).
        for (i, &v) in c.iter().enumerate() {
            let left = if i > 0 { c[i - 1] } else { f32::MIN };
            let right = c.get(i + 1).copied().unwrap_or(f32::MIN);
            if v >= 0.97 * best_c && v >= left && v >= right {
                return self.pitch_min + i;
            }
        }
        self.pitch_min
    }
}

fn clamp16(x: f32) -> i16 {
    x.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A harmonic-rich periodic signal with an integer period.
    fn voiced(period: usize, n: usize, start: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                let ph = (i % period) as f32 / period as f32 * std::f32::consts::TAU;
                (6000.0 * ph.sin() + 3000.0 * (2.0 * ph).sin() + 1500.0 * (3.0 * ph + 0.5).sin())
                    as i16
            })
            .collect()
    }

    fn energy(x: &[i16]) -> f64 {
        x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64
    }

    fn feed(plc: &mut Plc, period: usize, frames: usize) {
        for f in 0..frames {
            let mut fr = voiced(period, 160, f * 160);
            plc.good_frame(&mut fr);
        }
    }

    #[test]
    fn estimates_pitch_without_octave_errors() {
        for period in [23, 40, 57, 80, 113] {
            let mut plc = Plc::new(8000);
            feed(&mut plc, period, 4);
            let mut out = [0i16; 80];
            plc.conceal(&mut out);
            assert_eq!(plc.pitch(), Some(period), "period {period}");
        }
    }

    #[test]
    fn first_10ms_continue_the_waveform() {
        let period = 57;
        let mut plc = Plc::new(8000);
        feed(&mut plc, period, 4);
        let mut out = [0i16; 80];
        plc.conceal(&mut out);
        let truth = voiced(period, 80, 4 * 160);
        let err: Vec<i16> = out.iter().zip(&truth).map(|(a, b)| a - b).collect();
        let snr = 10.0 * (energy(&truth) / energy(&err).max(1.0)).log10();
        assert!(snr > 25.0, "SNR {snr:.1} dB");
    }

    #[test]
    fn fades_by_20_percent_per_10ms_then_silence() {
        let mut plc = Plc::new(8000);
        feed(&mut plc, 40, 4);
        let mut out = vec![0i16; 560];
        for chunk in out.chunks_mut(80) {
            plc.conceal(chunk);
        }
        let rms: Vec<f64> = out.chunks(80).map(|c| energy(c).sqrt()).collect();
        // 0-10 ms full level; then each 10 ms quieter; 60 ms on: silence.
        for w in rms[1..6].windows(2) {
            assert!(w[1] < w[0], "{rms:?}");
        }
        let r = rms[2] / rms[0];
        assert!(
            (0.55..0.8).contains(&r),
            "10-20 ms ramps 1.0→0.8, 20-30 ms 0.8→0.6: {r}"
        );
        assert!(out[480..].iter().all(|&x| x == 0), "silent from 60 ms");
    }

    #[test]
    fn recovery_has_no_click() {
        let mut plc = Plc::new(8000);
        feed(&mut plc, 57, 4);
        let mut lost = [0i16; 80];
        plc.conceal(&mut lost);
        // The talker moved on: the next good frame has another pitch and phase.
        let mut good = voiced(40, 160, 7);
        let raw = good.clone();
        plc.good_frame(&mut good);
        assert!(!plc.concealing());
        let max_step = raw
            .windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap_or(0);
        let boundary = (good[0] as i32 - lost[79] as i32).abs();
        let jump = (raw[0] as i32 - lost[79] as i32).abs();
        assert!(
            boundary <= max_step * 2,
            "boundary step {boundary} vs signal {max_step}"
        );
        assert!(
            boundary < jump,
            "overlap-add smoothed nothing: {boundary} vs {jump}"
        );
        // 10 ms erasure: 4 ms (32 samples) of overlap, then the real signal.
        assert_eq!(&good[32..], &raw[32..]);
        assert_ne!(&good[..32], &raw[..32]);
    }

    #[test]
    fn switching_period_count_has_no_click() {
        let mut plc = Plc::new(8000);
        feed(&mut plc, 57, 4);
        let mut out = vec![0i16; 240];
        plc.conceal(&mut out);
        let steps: Vec<i32> = out
            .windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .collect();
        let typical = steps[..70].iter().copied().max().unwrap_or(0);
        assert!(
            steps.iter().all(|&s| s <= typical * 2 + 50),
            "max {:?} vs {typical}",
            steps.iter().max()
        );
    }

    #[test]
    fn silence_and_odd_sizes_are_harmless() {
        let mut plc = Plc::new(16_000);
        let mut z = vec![0i16; 320];
        plc.good_frame(&mut z);
        for n in [0usize, 1, 7, 320, 2000] {
            let mut out = vec![1i16; n];
            plc.conceal(&mut out);
            assert!(out.iter().all(|&x| x == 0));
        }
        let mut g = vec![5i16; 3];
        plc.good_frame(&mut g);
        assert_eq!(plc.pitch().map(|p| p >= 40), Some(true));
    }
}
