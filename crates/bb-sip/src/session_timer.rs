//! Session timers (RFC 4028): reading `Session-Expires`, choosing the
//! refresher when we answer, and when to refresh or give up.
//!
//! The softphone never asks for session timers itself, but answers them
//! when the peer offers them (a `Session-Expires` in the INVITE, or in the
//! 2xx to our INVITE): it states the interval and the refresher in its 2xx,
//! refreshes (UPDATE if the peer allows it, else re-INVITE) at half the
//! interval when it is the refresher, and ends the call with BYE when it is
//! not and no refresh came in time (section 10). rsipstack 0.7.14 parses the
//! header but does none of this.
//!
//! Plain functions: no clock, no I/O; the driver keeps the timers.

use std::fmt;
use std::time::Duration;

/// Our smallest acceptable interval (`Min-SE`), the RFC's floor.
pub const MIN_SE: u32 = 90;

/// Who sends the refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The side that sent the INVITE.
    Uac,
    /// The side that answered it.
    Uas,
}

/// A `Session-Expires` value: `1800;refresher=uac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// The interval in seconds.
    pub interval: u32,
    /// The refresher, when stated.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Reads a header value; `None` when the delta-seconds are missing or
    /// not a number. Unknown parameters are ignored; an unknown refresher
    /// value counts as not stated.
    pub fn parse(value: &str) -> Option<SessionExpires> {
        let mut parts = value.split(';');
        let interval = parts.next()?.trim().parse::<u32>().ok()?;
        let mut refresher = None;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("refresher") {
                refresher = match v.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => None,
                };
            }
        }
        Some(SessionExpires {
            interval,
            refresher,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.interval)?;
        match self.refresher {
            Some(Refresher::Uac) => write!(f, ";refresher=uac"),
            Some(Refresher::Uas) => write!(f, ";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// What a UAS does with an INVITE that carries `Session-Expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasAnswer {
    /// Reject with 422 Session Interval Too Small and `Min-SE: min_se`.
    TooSmall {
        /// Our minimum, for the `Min-SE` header.
        min_se: u32,
    },
    /// Accept: put `session_expires` (refresher always stated) in the 2xx,
    /// with `Require: timer` when `require_timer`.
    Accept {
        /// The value for the 2xx.
        session_expires: SessionExpires,
        /// Whether the 2xx must carry `Require: timer` (the UAC supports it).
        require_timer: bool,
    },
}

impl UasAnswer {
    /// Whether we (the UAS) send the refreshes.
    pub fn we_refresh(&self) -> bool {
        matches!(
            self,
            UasAnswer::Accept {
                session_expires: SessionExpires {
                    refresher: Some(Refresher::Uas),
                    ..
                },
                ..
            }
        )
    }
}

/// Decides the answer to an INVITE's `Session-Expires` (RFC 4028 section 9).
/// `uac_supports_timer`: the INVITE's `Supported` lists `timer`. The UAC's
/// choice of refresher is kept; when it made none, the UAC refreshes if it
/// supports timers (it asked for them), else we must.
pub fn answer_as_uas(offered: SessionExpires, uac_supports_timer: bool, min_se: u32) -> UasAnswer {
    // A UAC without timer support cannot handle 422: the interval is
    // raised to our minimum instead.
    if offered.interval < min_se && uac_supports_timer {
        return UasAnswer::TooSmall { min_se };
    }
    let interval = offered.interval.max(min_se);
    let refresher = if !uac_supports_timer {
        Refresher::Uas
    } else {
        offered.refresher.unwrap_or(Refresher::Uac)
    };
    UasAnswer::Accept {
        session_expires: SessionExpires {
            interval,
            refresher: Some(refresher),
        },
        require_timer: uac_supports_timer,
    }
}

/// As the UAC, whether the 2xx's `Session-Expires` makes us the refresher
/// (a 2xx without a refresher parameter is read as `uac`, the side that
/// certainly supports timers here).
pub fn uac_refreshes(answer: SessionExpires) -> bool {
    answer.refresher != Some(Refresher::Uas)
}

/// The `Session-Expires` of a refresh that we send as the refresher: the
/// agreed interval with `refresher=uac`. The parameter names roles in the
/// refresh's own transaction, where the sender is the UAC whatever role it
/// had in the INVITE that set the timer up; repeating a 2xx's
/// `refresher=uas` would hand the refreshing to the peer (section 9).
pub fn refresh_request(interval: u32) -> SessionExpires {
    SessionExpires {
        interval,
        refresher: Some(Refresher::Uac),
    }
}

/// When the refresher sends its refresh: half the interval (section 7.2).
pub fn refresh_after(interval: u32) -> Duration {
    Duration::from_millis(u64::from(interval.max(1)) * 500)
}

/// When the other side gives up waiting for a refresh: the interval minus
/// a third of it or 32 s, whichever is less (section 10).
pub fn expire_after(interval: u32) -> Duration {
    let margin = (interval / 3).min(32);
    Duration::from_secs(u64::from(interval - margin))
}

/// Whether a `Supported` or `Require` value lists `timer`.
pub fn lists_timer(value: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("timer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_refresh_names_us_the_uac_of_its_own_transaction() {
        // We answered an INVITE and agreed to refresh (refresher=uas in our
        // 2xx); our UPDATE must keep us the refresher: refresher=uac.
        let agreed = SessionExpires::parse("90;refresher=uas");
        assert_eq!(agreed.map(|a| a.refresher), Some(Some(Refresher::Uas)));
        assert_eq!(refresh_request(90).to_string(), "90;refresher=uac");
    }

    #[test]
    fn parses_interval_and_refresher() {
        assert_eq!(
            SessionExpires::parse("1800;refresher=uac"),
            Some(SessionExpires {
                interval: 1800,
                refresher: Some(Refresher::Uac)
            })
        );
        assert_eq!(
            SessionExpires::parse(" 90 ; Refresher = UAS ;x=1"),
            Some(SessionExpires {
                interval: 90,
                refresher: Some(Refresher::Uas)
            })
        );
        assert_eq!(
            SessionExpires::parse("600;refresher=both").map(|s| s.refresher),
            Some(None)
        );
        assert_eq!(SessionExpires::parse("soon"), None);
        assert_eq!(SessionExpires::parse(""), None);
        assert_eq!(SessionExpires::parse("-5"), None);
    }

    #[test]
    fn renders_what_it_parses() {
        for v in ["1800;refresher=uac", "90;refresher=uas", "300"] {
            let se = SessionExpires::parse(v).map(|s| s.to_string());
            assert_eq!(se.as_deref(), Some(v));
        }
    }

    #[test]
    fn uas_keeps_the_uacs_refresher_or_lets_the_uac_refresh() {
        let offered = |interval, refresher| SessionExpires {
            interval,
            refresher,
        };
        let a = answer_as_uas(offered(1800, None), true, MIN_SE);
        assert_eq!(
            a,
            UasAnswer::Accept {
                session_expires: offered(1800, Some(Refresher::Uac)),
                require_timer: true
            }
        );
        assert!(!a.we_refresh());
        let a = answer_as_uas(offered(1800, Some(Refresher::Uas)), true, MIN_SE);
        assert!(a.we_refresh());
    }

    #[test]
    fn uas_refreshes_for_a_uac_without_timer_support() {
        let a = answer_as_uas(
            SessionExpires {
                interval: 1800,
                refresher: Some(Refresher::Uac),
            },
            false,
            MIN_SE,
        );
        assert!(a.we_refresh());
        assert!(matches!(
            a,
            UasAnswer::Accept {
                require_timer: false,
                ..
            }
        ));
    }

    #[test]
    fn too_small_is_422_only_when_the_uac_can_retry() {
        let small = SessionExpires {
            interval: 30,
            refresher: None,
        };
        assert_eq!(
            answer_as_uas(small, true, MIN_SE),
            UasAnswer::TooSmall { min_se: MIN_SE }
        );
        match answer_as_uas(small, false, MIN_SE) {
            UasAnswer::Accept {
                session_expires, ..
            } => assert_eq!(session_expires.interval, MIN_SE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refresh_and_expiry_times() {
        assert_eq!(refresh_after(1800), Duration::from_secs(900));
        assert_eq!(refresh_after(3), Duration::from_millis(1500));
        assert_eq!(expire_after(1800), Duration::from_secs(1768));
        assert_eq!(expire_after(90), Duration::from_secs(60));
        assert_eq!(expire_after(0), Duration::from_secs(0));
        assert!(uac_refreshes(SessionExpires {
            interval: 90,
            refresher: None
        }));
        assert!(lists_timer("100rel, Timer"));
        assert!(!lists_timer("timers,100rel"));
    }
}
