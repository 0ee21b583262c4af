//! Tone generation and Goertzel detection, for end-to-end tests ("a 1 kHz
//! tone crossed the call") and for checking codecs.

/// What [`detect`] found at one frequency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToneReport {
    /// Mean-square power of the component at the frequency (a sine of
    /// amplitude `A` gives `A²/2`).
    pub power: f64,
    /// Mean-square power of the whole signal.
    pub total: f64,
    /// `power / total`, in `0..=1`: near 1 for a clean tone.
    pub ratio: f64,
    /// Level of the component relative to a full-scale sine, in dB.
    pub level_dbfs: f64,
}

/// Goertzel power at `freq`: the squared DTFT magnitude of `samples`,
/// scaled to mean-square units (`A²/2` for a sine of amplitude `A` when the
/// window holds whole cycles; within a few percent otherwise).
pub fn goertzel_power(samples: &[i16], sample_rate: u32, freq: f64) -> f64 {
    let n = samples.len();
    if n == 0 || sample_rate == 0 {
        return 0.0;
    }
    let w = std::f64::consts::TAU * freq / sample_rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let mag2 = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * mag2 / (n as f64 * n as f64)
}

/// Measures the tone at `freq` in `samples`.
pub fn detect(samples: &[i16], sample_rate: u32, freq: f64) -> ToneReport {
    let power = goertzel_power(samples, sample_rate, freq);
    let total = if samples.is_empty() {
        0.0
    } else {
        samples.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / samples.len() as f64
    };
    let full_scale = 32767.0f64 * 32767.0 / 2.0;
    ToneReport {
        power,
        total,
        ratio: if total > 0.0 {
            (power / total).min(1.0)
        } else {
            0.0
        },
        level_dbfs: if power > 0.0 {
            10.0 * (power / full_scale).log10()
        } else {
            f64::NEG_INFINITY
        },
    }
}

/// A phase-continuous sine generator.
#[derive(Clone, Debug)]
pub struct SineGenerator {
    phase: f64,
    step: f64,
    amplitude: f64,
}

impl SineGenerator {
    /// A sine at `freq` Hz, `amplitude` in sample units (clamped to 32767).
    pub fn new(freq: f64, sample_rate: u32, amplitude: f64) -> SineGenerator {
        SineGenerator {
            phase: 0.0,
            step: std::f64::consts::TAU * freq / sample_rate.max(1) as f64,
            amplitude: amplitude.clamp(0.0, 32767.0),
        }
    }

    /// Next sample.
    pub fn next_sample(&mut self) -> i16 {
        let s = (self.amplitude * self.phase.sin()).round() as i16;
        self.phase = (self.phase + self.step) % std::f64::consts::TAU;
        s
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = self.next_sample();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, amp: f64, n: usize) -> Vec<i16> {
        let mut g = SineGenerator::new(freq, rate, amp);
        let mut v = vec![0; n];
        g.fill(&mut v);
        v
    }

    #[test]
    fn detects_the_tone_it_generates() {
        let x = tone(1000.0, 8000, 10_000.0, 800);
        let r = detect(&x, 8000, 1000.0);
        assert!(
            (r.power - 50_000_000.0).abs() / 50_000_000.0 < 0.01,
            "{r:?}"
        );
        assert!(r.ratio > 0.99, "{r:?}");
        assert!(
            (r.level_dbfs - 20.0 * (10_000.0f64 / 32767.0).log10()).abs() < 0.1,
            "{r:?}"
        );
        // Off-frequency: almost nothing.
        let off = detect(&x, 8000, 1300.0);
        assert!(off.ratio < 0.01, "{off:?}");
    }

    #[test]
    fn separates_a_tone_from_noise() {
        let mut rng = crate::netem::Rng::new(5);
        let noise: Vec<i16> = (0..1600)
            .map(|_| rng.range(-3000.0, 3000.0) as i16)
            .collect();
        assert!(detect(&noise, 8000, 1000.0).ratio < 0.02);
        let mixed: Vec<i16> = tone(1000.0, 8000, 8000.0, 1600)
            .iter()
            .zip(&noise)
            .map(|(a, b)| a + b)
            .collect();
        let r = detect(&mixed, 8000, 1000.0);
        assert!(r.ratio > 0.8 && r.ratio < 0.99, "{r:?}");
    }

    #[test]
    fn empty_and_silent_inputs() {
        assert_eq!(goertzel_power(&[], 8000, 1000.0), 0.0);
        let r = detect(&[0; 160], 8000, 1000.0);
        assert_eq!((r.power, r.ratio), (0.0, 0.0));
        assert_eq!(r.level_dbfs, f64::NEG_INFINITY);
        let mut g = SineGenerator::new(1000.0, 8000, 1e9);
        assert!((0..16).map(|_| g.next_sample()).all(|s| s > -32768));
    }
}
