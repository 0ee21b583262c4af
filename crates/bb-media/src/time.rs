//! The crate's notion of time: a monotonic instant supplied by the caller.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A monotonic instant, in microseconds since an origin chosen by the driver
/// (typically the start of the call).
///
/// The crate never reads a clock: the driver converts `std::time::Instant`
/// (or a test's virtual clock) into a `Time` and passes it in. Arithmetic
/// saturates instead of panicking, so a driver that hands in a slightly older
/// `now` gets a zero duration rather than a crash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// An instant `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Time {
        Time(us)
    }

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// Signed difference `self - other` in microseconds.
    pub fn micros_since(self, other: Time) -> i64 {
        // Both are u64 microseconds; differences beyond ±292,000 years cannot
        // occur for instants derived from a running process.
        (self.0 as i128 - other.0 as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// `self + micros`, saturating at the origin and at `u64::MAX`.
    pub fn offset_micros(self, micros: i64) -> Time {
        Time(self.0.saturating_add_signed(micros))
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(duration_micros(rhs)))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, rhs: Duration) -> Time {
        Time(self.0.saturating_sub(duration_micros(rhs)))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_millis(5);
        assert_eq!(t.as_micros(), 5000);
        assert_eq!(t - Duration::from_secs(1), Time::ZERO);
        assert_eq!(
            Time::from_micros(u64::MAX) + Duration::from_secs(1),
            Time::from_micros(u64::MAX)
        );
        assert_eq!(Time::ZERO.saturating_duration_since(t), Duration::ZERO);
        assert_eq!(
            t.saturating_duration_since(Time::ZERO),
            Duration::from_millis(5)
        );
        assert_eq!(Time::ZERO.micros_since(t), -5000);
        assert_eq!(t.offset_micros(-7000), Time::ZERO);
        assert_eq!(t.offset_micros(1000), Time::from_millis(6));
        assert_eq!(format!("{t}"), "0.005000s");
    }
}
