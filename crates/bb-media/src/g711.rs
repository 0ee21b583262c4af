//! G.711 µ-law (PCMU) and A-law (PCMA) companding.
//!
//! Linear samples are 16-bit two's complement, the convention of the ITU-T
//! G.191 Software Tool Library: µ-law uses the 14 most significant bits and
//! decodes to `-32124..=32124`, A-law uses the 13 most significant bits and
//! decodes to `-32256..=32256`. Silence is `0xFF` (µ-law) and `0xD5` (A-law).
//!
//! The per-sample functions are table-driven: decoding is one load from a
//! 256-entry table; encoding is one load from a table indexed by the bits
//! the law actually uses (16,384 entries for µ-law, 4,096 for A-law), built
//! at compile time by branch-light `leading_zeros` formulas. The buffer
//! functions ([`encode_ulaw`] and friends) run AVX2 kernels, 16 samples per
//! instruction, when the CPU has AVX2 (checked at run time), and the tables
//! otherwise. Neither path shares code with [`reference`](mod@reference), the
//! straightforward segment-search transcription of the STL that the tests
//! compare both against exhaustively and the benches use as a baseline.

/// Decode table for µ-law, built by the classic bias-and-shift formula.
static ULAW_DECODE: [i16; 256] = build_ulaw_decode();
/// Decode table for A-law.
static ALAW_DECODE: [i16; 256] = build_alaw_decode();
/// µ-law code for every value of `sample >> 2` (as an unsigned 14-bit index).
static ULAW_ENCODE: [u8; 1 << 14] = build_ulaw_encode();
/// A-law code for every value of `sample >> 4` (as an unsigned 12-bit index).
static ALAW_ENCODE: [u8; 1 << 12] = build_alaw_encode();

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let u = !(i as u8);
        let mag = ((((u & 0x0F) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
        t[i] = if u & 0x80 != 0 {
            (0x84 - mag) as i16
        } else {
            (mag - 0x84) as i16
        };
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let a = (i as u8) ^ 0x55;
        let seg = ((a & 0x70) >> 4) as u32;
        let mut mag = ((a & 0x0F) as i32) << 4;
        mag = match seg {
            0 => mag + 8,
            1 => mag + 0x108,
            _ => (mag + 0x108) << (seg - 1),
        };
        t[i] = if a & 0x80 != 0 {
            mag as i16
        } else {
            -mag as i16
        };
        i += 1;
    }
    t
}

/// Bit length of `v` (0 for 0).
const fn bit_len(v: u32) -> u32 {
    32 - v.leading_zeros()
}

const fn ulaw_encode_formula(x: i32) -> u8 {
    let neg = x >> 31; // all ones for negative samples
    let mut mag = ((x ^ neg) >> 2) + 33;
    if mag > 0x1FFF {
        mag = 0x1FFF;
    }
    let seg = bit_len((mag >> 6) as u32); // 0..=7
    let mant = ((mag >> (seg + 1)) & 0x0F) as u32;
    let code = ((7 - seg) << 4) | (15 - mant);
    (code | (!neg as u32 & 0x80)) as u8
}

const fn alaw_encode_formula(x: i32) -> u8 {
    let neg = x >> 31;
    let ix = ((x ^ neg) >> 4) as u32; // 0..=2047
    let exp = bit_len(ix).saturating_sub(4);
    let mant = (ix >> exp.saturating_sub(1)) & 0x0F;
    let code = (exp << 4) | mant | (!neg as u32 & 0x80);
    (code as u8) ^ 0x55
}

const fn build_ulaw_encode() -> [u8; 1 << 14] {
    let mut t = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Index i holds bits 15..2 of the sample; rebuild a representative
        // sample with those bits (the law ignores bits 1..0).
        let x = ((i as u16) << 2) as i16 as i32;
        t[i] = ulaw_encode_formula(x);
        i += 1;
    }
    t
}

const fn build_alaw_encode() -> [u8; 1 << 12] {
    let mut t = [0u8; 1 << 12];
    let mut i = 0;
    while i < (1 << 12) {
        let x = ((i as u16) << 4) as i16 as i32;
        t[i] = alaw_encode_formula(x);
        i += 1;
    }
    t
}

/// Encodes one sample to µ-law.
#[inline(always)]
pub fn ulaw_encode_sample(x: i16) -> u8 {
    ULAW_ENCODE[(x as u16 >> 2) as usize]
}

/// Decodes one µ-law code.
#[inline(always)]
pub fn ulaw_decode_sample(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encodes one sample to A-law.
#[inline(always)]
pub fn alaw_encode_sample(x: i16) -> u8 {
    ALAW_ENCODE[(x as u16 >> 4) as usize]
}

/// Decodes one A-law code.
#[inline(always)]
pub fn alaw_decode_sample(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// AVX2 kernels, 16 samples per vector, chosen at run time. Segment
/// numbers come from two 16-entry `pshufb` lookups (bit length of each
/// nibble), and the per-lane shifts become 16-bit multiplies by `pshufb`-
/// looked-up powers of two, because AVX2 has neither a 16-bit `lzcnt` nor a
/// 16-bit variable shift. Tails shorter than a vector use the tables.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// A 16-entry byte table in both 128-bit halves.
    #[target_feature(enable = "avx2")]
    fn table(t: [i8; 16]) -> __m256i {
        _mm256_setr_epi8(
            t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13],
            t[14], t[15], t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11],
            t[12], t[13], t[14], t[15],
        )
    }

    /// Looks up `idx` (0..=15 in each 16-bit lane) in `t`, zero-extended.
    #[target_feature(enable = "avx2")]
    fn lookup16(t: __m256i, idx: __m256i) -> __m256i {
        // Bit 7 of the high byte makes pshufb write zero there.
        _mm256_shuffle_epi8(t, _mm256_or_si256(idx, _mm256_set1_epi16(0x8000u16 as i16)))
    }

    /// Bit length (0..=7) of each lane's value in 0..=127.
    #[target_feature(enable = "avx2")]
    fn bit_len7(b: __m256i) -> __m256i {
        let hi = table([0, 5, 6, 6, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        let lo = table([0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]);
        let f = _mm256_set1_epi16(0x0F);
        _mm256_max_epi16(
            lookup16(hi, _mm256_srli_epi16(b, 4)),
            lookup16(lo, _mm256_and_si256(b, f)),
        )
    }

    #[target_feature(enable = "avx2")]
    fn ulaw_encode16(x: __m256i) -> __m256i {
        let neg = _mm256_srai_epi16(x, 15);
        let v = _mm256_srai_epi16(_mm256_xor_si256(x, neg), 2);
        let mag = _mm256_min_epi16(
            _mm256_add_epi16(v, _mm256_set1_epi16(33)),
            _mm256_set1_epi16(0x1FFF),
        );
        let seg = bit_len7(_mm256_srli_epi16(mag, 6));
        // (mag << (7 - seg)) >> 8 == mag >> (seg + 1), and the product
        // stays below 2^14.
        let mul = lookup16(
            table([-128, 64, 32, 16, 8, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            seg,
        );
        let mant = _mm256_and_si256(
            _mm256_srli_epi16(_mm256_mullo_epi16(mag, mul), 8),
            _mm256_set1_epi16(0x0F),
        );
        let hi = lookup16(
            table([
                0x70, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]),
            seg,
        );
        let code = _mm256_or_si256(hi, _mm256_sub_epi16(_mm256_set1_epi16(15), mant));
        _mm256_or_si256(code, _mm256_andnot_si256(neg, _mm256_set1_epi16(0x80)))
    }

    #[target_feature(enable = "avx2")]
    fn alaw_encode16(x: __m256i) -> __m256i {
        let neg = _mm256_srai_epi16(x, 15);
        let ix = _mm256_srai_epi16(_mm256_xor_si256(x, neg), 4); // 0..=2047
        let exp = bit_len7(_mm256_srli_epi16(ix, 4));
        // (ix << (7 - s)) >> 7 == ix >> s with s = max(exp - 1, 0).
        let mul = lookup16(
            table([-128, -128, 64, 32, 16, 8, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
            exp,
        );
        let mant = _mm256_and_si256(
            _mm256_srli_epi16(_mm256_mullo_epi16(ix, mul), 7),
            _mm256_set1_epi16(0x0F),
        );
        let code = _mm256_or_si256(_mm256_slli_epi16(exp, 4), mant);
        let code = _mm256_or_si256(code, _mm256_andnot_si256(neg, _mm256_set1_epi16(0x80)));
        _mm256_xor_si256(code, _mm256_set1_epi16(0x55))
    }

    #[target_feature(enable = "avx2")]
    fn ulaw_decode16(c: __m256i) -> __m256i {
        let u = _mm256_xor_si256(c, _mm256_set1_epi16(0xFF));
        let e = _mm256_and_si256(_mm256_srli_epi16(u, 4), _mm256_set1_epi16(7));
        let pow = lookup16(
            table([1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0]),
            e,
        );
        let m = _mm256_slli_epi16(_mm256_and_si256(u, _mm256_set1_epi16(0x0F)), 3);
        let t = _mm256_mullo_epi16(_mm256_add_epi16(m, _mm256_set1_epi16(0x84)), pow);
        let s = _mm256_srai_epi16(_mm256_slli_epi16(u, 8), 15); // negative output
        let r = _mm256_sub_epi16(t, _mm256_set1_epi16(0x84));
        _mm256_sub_epi16(_mm256_xor_si256(r, s), s)
    }

    #[target_feature(enable = "avx2")]
    fn alaw_decode16(c: __m256i) -> __m256i {
        let a = _mm256_xor_si256(c, _mm256_set1_epi16(0x55));
        let e = _mm256_and_si256(_mm256_srli_epi16(a, 4), _mm256_set1_epi16(7));
        let nz = _mm256_min_epu16(e, _mm256_set1_epi16(1));
        let m = _mm256_slli_epi16(_mm256_and_si256(a, _mm256_set1_epi16(0x0F)), 4);
        let t = _mm256_add_epi16(
            _mm256_add_epi16(m, _mm256_set1_epi16(8)),
            _mm256_slli_epi16(nz, 8),
        );
        let pow = lookup16(
            table([1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0]),
            e,
        );
        let t = _mm256_mullo_epi16(t, pow);
        // Sign bit set means a positive sample.
        let neg = _mm256_xor_si256(
            _mm256_srai_epi16(_mm256_slli_epi16(a, 8), 15),
            _mm256_set1_epi16(-1),
        );
        _mm256_sub_epi16(_mm256_xor_si256(t, neg), neg)
    }

    macro_rules! encoder {
        ($name:ident, $kernel:ident, $scalar:path) => {
            #[target_feature(enable = "avx2")]
            pub(super) fn $name(pcm: &[i16], out: &mut [u8]) {
                let n = pcm.len().min(out.len());
                let mut i = 0;
                while i + 32 <= n {
                    // SAFETY: i + 32 <= n <= both lengths, so 32 samples
                    // (64 bytes) are read and 32 bytes written in bounds;
                    // the loadu/storeu forms need no alignment.
                    unsafe {
                        let a = _mm256_loadu_si256(pcm.as_ptr().add(i).cast());
                        let b = _mm256_loadu_si256(pcm.as_ptr().add(i + 16).cast());
                        let packed = _mm256_packus_epi16($kernel(a), $kernel(b));
                        let ordered = _mm256_permute4x64_epi64(packed, 0b11_01_10_00);
                        _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), ordered);
                    }
                    i += 32;
                }
                for (o, &x) in out[i..n].iter_mut().zip(&pcm[i..n]) {
                    *o = $scalar(x);
                }
            }
        };
    }

    macro_rules! decoder {
        ($name:ident, $kernel:ident, $scalar:path) => {
            #[target_feature(enable = "avx2")]
            pub(super) fn $name(codes: &[u8], out: &mut [i16]) {
                let n = codes.len().min(out.len());
                let mut i = 0;
                while i + 16 <= n {
                    // SAFETY: i + 16 <= n <= both lengths: 16 bytes read,
                    // 16 samples (32 bytes) written, unaligned forms.
                    unsafe {
                        let c = _mm_loadu_si128(codes.as_ptr().add(i).cast());
                        let r = $kernel(_mm256_cvtepu8_epi16(c));
                        _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), r);
                    }
                    i += 16;
                }
                for (o, &c) in out[i..n].iter_mut().zip(&codes[i..n]) {
                    *o = $scalar(c);
                }
            }
        };
    }

    encoder!(encode_ulaw, ulaw_encode16, super::ulaw_encode_sample);
    encoder!(encode_alaw, alaw_encode16, super::alaw_encode_sample);
    decoder!(decode_ulaw, ulaw_decode16, super::ulaw_decode_sample);
    decoder!(decode_alaw, alaw_decode16, super::alaw_decode_sample);
}

/// Runs the AVX2 kernel when the CPU has AVX2, else the table loop.
macro_rules! dispatch {
    ($input:expr, $out:expr, $avx2:path, $scalar:path) => {{
        let (input, out) = ($input, $out);
        let n = input.len().min(out.len());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above), the only
            // precondition of the target-feature kernel.
            unsafe { $avx2(&input[..n], &mut out[..n]) };
            return n;
        }
        for (o, &x) in out[..n].iter_mut().zip(&input[..n]) {
            *o = $scalar(x);
        }
        n
    }};
}

/// Encodes `pcm` to µ-law into `out`; converts `min(pcm.len(), out.len())`
/// samples and returns that count.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    dispatch!(pcm, out, avx2::encode_ulaw, ulaw_encode_sample)
}

/// Decodes µ-law `codes` into `out`; converts `min(codes.len(), out.len())`
/// samples and returns that count.
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    dispatch!(codes, out, avx2::decode_ulaw, ulaw_decode_sample)
}

/// Encodes `pcm` to A-law into `out`; converts `min(pcm.len(), out.len())`
/// samples and returns that count.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    dispatch!(pcm, out, avx2::encode_alaw, alaw_encode_sample)
}

/// Decodes A-law `codes` into `out`; converts `min(codes.len(), out.len())`
/// samples and returns that count.
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    dispatch!(codes, out, avx2::decode_alaw, alaw_decode_sample)
}

/// The baseline: a line-by-line transcription of `alaw_compress`,
/// `alaw_expand`, `ulaw_compress` and `ulaw_expand` from the ITU-T G.191
/// Software Tool Library (`g711.c`), one sample at a time, with the STL's
/// segment-search loops.
///
/// It is deliberately slow and obvious: the fast paths in the parent module
/// are tested against it for every 16-bit input and every 8-bit code, and the
/// G.711 bench reports the speed-up over it.
pub mod reference {
    /// STL `alaw_compress` for one sample (uses the 12 MSBs of magnitude).
    pub fn alaw_compress_sample(lin: i16) -> u8 {
        let lin = lin as i32;
        // 1's complement for negative values: 0 <= ix < 2048
        let mut ix: i32 = if lin < 0 { (!lin) >> 4 } else { lin >> 4 };
        if ix > 15 {
            // exponent = 0 for ix <= 15
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16; // remove leading '1'
            ix += iexp << 4;
        }
        if lin >= 0 {
            ix |= 0x0080; // sign bit
        }
        (ix ^ 0x0055) as u8 // toggle even bits
    }

    /// STL `alaw_expand` for one code.
    pub fn alaw_expand_sample(log: u8) -> i16 {
        let mut ix = (log as i32) ^ 0x0055;
        ix &= 0x007F; // remove sign bit
        let iexp = ix >> 4;
        let mut mant = ix & 0x000F;
        if iexp > 0 {
            mant += 16; // leading '1'
        }
        mant = (mant << 4) + 0x0008; // left justify, add 1/2 step
        if iexp > 1 {
            mant <<= iexp - 1;
        }
        (if log > 127 { mant } else { -mant }) as i16
    }

    /// STL `ulaw_compress` for one sample (uses the 14 MSBs).
    pub fn ulaw_compress_sample(lin: i16) -> u8 {
        let lin = lin as i32;
        // 14-bit right justified magnitude plus the µ-law bias of 33.
        let mut absno = if lin < 0 {
            ((!lin) >> 2) + 33
        } else {
            (lin >> 2) + 33
        };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        // Segment determination.
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high_nibble = 0x0008 - segno;
        let mut low_nibble = (absno >> segno) & 0x000F;
        low_nibble = 0x000F - low_nibble;
        let mut log = (high_nibble << 4) | low_nibble;
        if lin >= 0 {
            log |= 0x0080;
        }
        log as u8
    }

    /// STL `ulaw_expand` for one code.
    pub fn ulaw_expand_sample(log: u8) -> i16 {
        let log = log as i32;
        let sign = if log < 0x0080 { -1 } else { 1 };
        let mut mantissa = !log; // 1's complement
        let exponent = (mantissa >> 4) & 0x0007;
        let segment = exponent + 1;
        mantissa &= 0x000F;
        let step = 4 << segment; // one quantisation step
        (sign * ((0x0080 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16
    }

    /// STL `alaw_compress` over a buffer (`min` of both lengths).
    pub fn alaw_compress(lin: &[i16], log: &mut [u8]) {
        for (o, &x) in log.iter_mut().zip(lin) {
            *o = alaw_compress_sample(x);
        }
    }

    /// STL `alaw_expand` over a buffer (`min` of both lengths).
    pub fn alaw_expand(log: &[u8], lin: &mut [i16]) {
        for (o, &c) in lin.iter_mut().zip(log) {
            *o = alaw_expand_sample(c);
        }
    }

    /// STL `ulaw_compress` over a buffer (`min` of both lengths).
    pub fn ulaw_compress(lin: &[i16], log: &mut [u8]) {
        for (o, &x) in log.iter_mut().zip(lin) {
            *o = ulaw_compress_sample(x);
        }
    }

    /// STL `ulaw_expand` over a buffer (`min` of both lengths).
    pub fn ulaw_expand(log: &[u8], lin: &mut [i16]) {
        for (o, &c) in lin.iter_mut().zip(log) {
            *o = ulaw_expand_sample(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reference as r;
    use super::*;

    /// Published anchor values (G.711 tables as rendered by the STL and by
    /// the widely copied Sun `g711.c`): silence codes, extremes, signs.
    #[test]
    fn reference_matches_published_values() {
        // µ-law: 0xFF and 0x7F are +0 and -0; 0x80/0x00 are the extremes.
        assert_eq!(r::ulaw_expand_sample(0xFF), 0);
        assert_eq!(r::ulaw_expand_sample(0x7F), 0);
        assert_eq!(r::ulaw_expand_sample(0x80), 32124);
        assert_eq!(r::ulaw_expand_sample(0x00), -32124);
        // First step above zero: 8 in 16-bit units (2 in 14-bit units).
        assert_eq!(r::ulaw_expand_sample(0xFE), 8);
        assert_eq!(r::ulaw_expand_sample(0x7E), -8);
        // Segment 1 starts at 16-bit value 132 - 4*33 + ... : code 0xEF.
        assert_eq!(r::ulaw_expand_sample(0xEF), 132);
        assert_eq!(r::ulaw_compress_sample(0), 0xFF);
        assert_eq!(r::ulaw_compress_sample(-1), 0x7F);
        assert_eq!(r::ulaw_compress_sample(i16::MAX), 0x80);
        assert_eq!(r::ulaw_compress_sample(i16::MIN), 0x00);

        // A-law: 0xD5/0x55 are the codes nearest zero (+8 / -8).
        assert_eq!(r::alaw_expand_sample(0xD5), 8);
        assert_eq!(r::alaw_expand_sample(0x55), -8);
        assert_eq!(r::alaw_expand_sample(0xAA), 32256);
        assert_eq!(r::alaw_expand_sample(0x2A), -32256);
        assert_eq!(r::alaw_compress_sample(0), 0xD5);
        assert_eq!(r::alaw_compress_sample(-1), 0x55);
        assert_eq!(r::alaw_compress_sample(i16::MAX), 0xAA);
        assert_eq!(r::alaw_compress_sample(i16::MIN), 0x2A);
    }

    /// The reference is self-consistent: every code survives
    /// decode → encode, except µ-law's negative zero (0x7F), which decodes
    /// to 0 and re-encodes as positive zero.
    #[test]
    fn reference_codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(
                r::alaw_compress_sample(r::alaw_expand_sample(c)),
                c,
                "A-law code {c:#04x}"
            );
            let want = if c == 0x7F { 0xFF } else { c };
            assert_eq!(
                r::ulaw_compress_sample(r::ulaw_expand_sample(c)),
                want,
                "µ-law code {c:#04x}"
            );
        }
    }

    /// Reference decode is monotonic in the G.711 code order, so the table
    /// really is a companding staircase and not, say, bit-reversed.
    #[test]
    fn reference_is_monotonic() {
        // µ-law: positive codes 0xFF (smallest) down to 0x80 (largest).
        let pos: Vec<i16> = (0x80..=0xFFu8).rev().map(r::ulaw_expand_sample).collect();
        assert!(
            pos.windows(2).all(|w| w[0] < w[1]),
            "µ-law positive half not increasing"
        );
        // A-law: sign-and-magnitude after removing the even-bit toggle.
        let pos: Vec<i16> = (0x80..=0xFFu8)
            .map(|m| r::alaw_expand_sample(m ^ 0x55))
            .collect();
        assert!(
            pos.windows(2).all(|w| w[0] < w[1]),
            "A-law positive half not increasing"
        );
    }

    #[test]
    fn decode_tables_match_reference_for_every_code() {
        for c in 0..=255u8 {
            assert_eq!(
                ulaw_decode_sample(c),
                r::ulaw_expand_sample(c),
                "µ-law code {c:#04x}"
            );
            assert_eq!(
                alaw_decode_sample(c),
                r::alaw_expand_sample(c),
                "A-law code {c:#04x}"
            );
        }
    }

    #[test]
    fn encode_tables_match_reference_for_every_16_bit_input() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(
                ulaw_encode_sample(x),
                r::ulaw_compress_sample(x),
                "µ-law input {x}"
            );
            assert_eq!(
                alaw_encode_sample(x),
                r::alaw_compress_sample(x),
                "A-law input {x}"
            );
        }
    }

    /// The buffer functions (AVX2 kernels where available, tables
    /// elsewhere) over every input.
    #[test]
    fn buffer_functions_match_reference_everywhere() {
        let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut fast = vec![0u8; all.len()];
        let mut slow = vec![0u8; all.len()];
        encode_ulaw(&all, &mut fast);
        r::ulaw_compress(&all, &mut slow);
        assert!(fast == slow, "µ-law encode differs");
        encode_alaw(&all, &mut fast);
        r::alaw_compress(&all, &mut slow);
        assert!(fast == slow, "A-law encode differs");
        let codes: Vec<u8> = (0..=255).collect();
        let (mut a, mut b) = (vec![0i16; 256], vec![0i16; 256]);
        decode_ulaw(&codes, &mut a);
        r::ulaw_expand(&codes, &mut b);
        assert_eq!(a, b);
        decode_alaw(&codes, &mut a);
        r::alaw_expand(&codes, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn buffer_functions_convert_the_common_prefix() {
        let pcm: Vec<i16> = (0..160).map(|i| (i * 397 - 30000) as i16).collect();
        let mut fast = [0u8; 160];
        let mut slow = [0u8; 160];
        assert_eq!(encode_ulaw(&pcm, &mut fast), 160);
        r::ulaw_compress(&pcm, &mut slow);
        assert_eq!(fast, slow);
        assert_eq!(encode_alaw(&pcm, &mut fast), 160);
        r::alaw_compress(&pcm, &mut slow);
        assert_eq!(fast, slow);

        let mut a = [0i16; 160];
        let mut b = [0i16; 160];
        assert_eq!(decode_alaw(&fast, &mut a), 160);
        r::alaw_expand(&fast, &mut b);
        assert_eq!(a, b);
        assert_eq!(decode_ulaw(&fast, &mut a), 160);
        r::ulaw_expand(&fast, &mut b);
        assert_eq!(a, b);

        // Short output: only the prefix is converted.
        let mut short = [0u8; 10];
        assert_eq!(encode_ulaw(&pcm, &mut short), 10);
        let want: Vec<u8> = pcm[..10]
            .iter()
            .map(|&x| r::ulaw_compress_sample(x))
            .collect();
        assert_eq!(&short[..], &want[..]);
    }

    #[test]
    fn quantisation_error_is_bounded_by_half_a_step() {
        // For inputs inside the range, |x - decode(encode(x))| is at most half
        // the step of the segment, i.e. ≤ 1/32 of |x| plus the first-segment step.
        for x in (-32000i32..=32000).step_by(7) {
            let x16 = x as i16;
            let u = ulaw_decode_sample(ulaw_encode_sample(x16)) as i32;
            let a = alaw_decode_sample(alaw_encode_sample(x16)) as i32;
            assert!((u - x).abs() <= x.abs() / 32 + 8, "µ-law {x} -> {u}");
            assert!((a - x).abs() <= x.abs() / 32 + 16, "A-law {x} -> {a}");
        }
    }
}
