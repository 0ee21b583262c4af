//! Sample-rate conversion between a sound device or WAV file and the
//! call's codec rate.
//!
//! [`Resampler`] is a streaming band-limited interpolator: every output
//! sample is a windowed-sinc (Blackman) sum over the input around its exact
//! position, with the cut-off at the lower of the two Nyquist rates, so
//! 48 kHz → 8 kHz does not fold 4–24 kHz back into the voice band. The kernel
//! is tabulated once per converter and read with linear interpolation, which
//! keeps the cost near 2 × [`HALF_WIDTH`] multiply-adds per output sample
//! (scaled by the decimation factor when going down).
//!
//! Output sample `n` sits exactly at input time `n × in_rate / out_rate`:
//! the converter adds no delay of its own beyond waiting for the
//! [`HALF_WIDTH`] future samples it needs, which [`resample_all`] flushes.

/// Kernel half-width, in samples at the lower of the two rates.
pub const HALF_WIDTH: usize = 16;
/// Table resolution: kernel values per sample of the lower rate.
const PHASES: usize = 64;
/// Cut-off as a share of the lower Nyquist rate (room for the transition).
const ROLL_OFF: f64 = 0.92;

/// A streaming sample-rate converter for mono `f32` audio.
#[derive(Clone, Debug)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// Input samples per output sample.
    step: f64,
    /// Cut-off relative to the input rate's Nyquist (≤ 1).
    fc: f64,
    /// Kernel half-width in input samples.
    reach: f64,
    /// Kernel `h(u)` for `u = fc × |distance|` in `0..HALF_WIDTH`, `PHASES` per unit.
    table: Vec<f32>,
    /// Buffered input; `buf[0]` is input sample number `base`.
    buf: Vec<f32>,
    base: i64,
    /// Position of the next output, in input samples.
    pos: f64,
}

impl Resampler {
    /// A converter from `in_rate` to `out_rate` (both in Hz, non-zero).
    pub fn new(in_rate: u32, out_rate: u32) -> Resampler {
        let (in_rate, out_rate) = (in_rate.max(1), out_rate.max(1));
        let ratio = out_rate as f64 / in_rate as f64;
        let fc = ratio.min(1.0) * ROLL_OFF;
        let n = HALF_WIDTH * PHASES + 2;
        let table = (0..n)
            .map(|j| {
                let u = j as f64 / PHASES as f64;
                kernel(u, ROLL_OFF) as f32
            })
            .collect();
        Resampler {
            in_rate,
            out_rate,
            step: in_rate as f64 / out_rate as f64,
            fc,
            reach: HALF_WIDTH as f64 / (fc / ROLL_OFF),
            table,
            buf: Vec::new(),
            base: 0,
            pos: 0.0,
        }
    }

    /// The input rate.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// The output rate.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Feeds `input` and appends every output sample it completes to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.in_rate == self.out_rate {
            out.extend_from_slice(input);
            return;
        }
        self.buf.extend_from_slice(input);
        let end = self.base + self.buf.len() as i64; // one past the last input
        let scale = self.fc / ROLL_OFF; // maps input distance to lower-rate units
        loop {
            let hi = (self.pos + self.reach).floor() as i64;
            if hi >= end {
                break;
            }
            let lo = (self.pos - self.reach).ceil() as i64;
            let mut acc = 0.0f64;
            for k in lo.max(self.base)..=hi {
                let d = (self.pos - k as f64).abs() * scale;
                let x = self.buf[(k - self.base) as usize] as f64;
                acc += x * self.lookup(d) as f64;
            }
            out.push((acc * scale) as f32);
            self.pos += self.step;
        }
        // Keep what the next output still needs.
        let keep_from = ((self.pos - self.reach).ceil() as i64).max(self.base);
        let drop = ((keep_from - self.base) as usize).min(self.buf.len());
        self.buf.drain(..drop);
        self.base += drop as i64;
    }

    /// Kernel value at `u` lower-rate samples from the centre.
    fn lookup(&self, u: f64) -> f32 {
        let x = u * PHASES as f64;
        let i = x as usize;
        if i + 1 >= self.table.len() {
            return 0.0;
        }
        let f = (x - i as f64) as f32;
        self.table[i] * (1.0 - f) + self.table[i + 1] * f
    }
}

/// Windowed sinc at `u` (in lower-rate samples), cut-off `fc` of Nyquist.
fn kernel(u: f64, fc: f64) -> f64 {
    if u >= HALF_WIDTH as f64 {
        return 0.0;
    }
    let x = std::f64::consts::PI * fc * u;
    let sinc = if x.abs() < 1e-9 { 1.0 } else { x.sin() / x };
    // Blackman window over [-HALF_WIDTH, HALF_WIDTH], centred.
    let a = std::f64::consts::PI * u / HALF_WIDTH as f64;
    let blackman = 0.42 + 0.5 * a.cos() + 0.08 * (2.0 * a).cos();
    fc * sinc * blackman
}

/// Converts a whole clip, flushing the converter's look-ahead so the output
/// has `len × out_rate / in_rate` samples, aligned with the input.
pub fn resample_all(input: &[f32], in_rate: u32, out_rate: u32) -> Vec<f32> {
    if in_rate == out_rate {
        return input.to_vec();
    }
    let mut r = Resampler::new(in_rate, out_rate);
    let want = (input.len() as u128 * out_rate as u128 / in_rate.max(1) as u128) as usize;
    let mut out = Vec::with_capacity(want + 1);
    r.process(input, &mut out);
    let pad = vec![0.0f32; r.reach.ceil() as usize + 2];
    while out.len() < want {
        let before = out.len();
        r.process(&pad, &mut out);
        if out.len() == before {
            break;
        }
    }
    out.truncate(want);
    out
}

/// `i16` → `f32` in `-1.0..1.0`.
pub fn to_f32(x: i16) -> f32 {
    x as f32 / 32768.0
}

/// `f32` → `i16`, clamped.
pub fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_media::tone::{SineGenerator, detect};

    fn sine(freq: f64, rate: u32, n: usize) -> Vec<f32> {
        let mut g = SineGenerator::new(freq, rate, 16000.0);
        (0..n).map(|_| to_f32(g.next_sample())).collect()
    }

    fn pcm(x: &[f32]) -> Vec<i16> {
        x.iter().map(|&v| to_i16(v)).collect()
    }

    #[test]
    fn a_tone_survives_down_and_up_conversion() {
        for (from, to) in [
            (48_000, 8000),
            (8000, 48_000),
            (44_100, 16_000),
            (16_000, 8000),
        ] {
            let x = sine(1000.0, from, from as usize / 2);
            let y = resample_all(&x, from, to);
            assert_eq!(y.len(), to as usize / 2, "{from} -> {to}");
            // Skip the edges (zero padding) and measure the middle.
            let mid = &y[y.len() / 4..y.len() * 3 / 4];
            let r = detect(&pcm(mid), to, 1000.0);
            assert!(r.ratio > 0.99, "{from} -> {to}: {r:?}");
            let level = 20.0 * (16000.0f64 / 32767.0).log10();
            assert!((r.level_dbfs - level).abs() < 0.5, "{from} -> {to}: {r:?}");
        }
    }

    #[test]
    fn downsampling_rejects_what_would_alias() {
        // 6 kHz at 48 kHz would fold to 2 kHz at 8 kHz without the filter.
        let x = sine(6000.0, 48_000, 24_000);
        let y = resample_all(&x, 48_000, 8000);
        let mid = &y[1000..3000];
        let r = detect(&pcm(mid), 8000, 2000.0);
        assert!(r.level_dbfs < -50.0, "{r:?}");
    }

    #[test]
    fn streaming_equals_whole_clip_and_is_time_aligned() {
        let x = sine(440.0, 8000, 4000);
        let whole = resample_all(&x, 8000, 48_000);
        let mut r = Resampler::new(8000, 48_000);
        let mut streamed = Vec::new();
        for chunk in x.chunks(160) {
            r.process(chunk, &mut streamed);
        }
        assert!(streamed.len() > whole.len() - 200);
        for (a, b) in streamed.iter().zip(&whole) {
            assert!((a - b).abs() < 1e-5);
        }
        // Output sample 6n sits on input sample n (away from the edges).
        for n in [500usize, 1000, 2000] {
            assert!((whole[6 * n] - x[n]).abs() < 0.01, "{n}");
        }
    }

    #[test]
    fn same_rate_is_a_copy_and_sample_conversion_clamps() {
        let mut r = Resampler::new(8000, 8000);
        let mut out = Vec::new();
        r.process(&[0.5, -0.25], &mut out);
        assert_eq!(out, vec![0.5, -0.25]);
        assert_eq!(to_i16(2.0), 32767);
        assert_eq!(to_i16(-2.0), -32768);
        assert_eq!(to_i16(to_f32(1234)), 1234);
    }
}
