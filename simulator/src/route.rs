//! The number plan: what a dialled number means, for whom. Pure functions over
//! the [`Tenant`]; the B2BUA ([`crate::pbx`]) acts on the answer.
//!
//! For an extension, in this order: another extension (an internal call);
//! one of the company's outside lines (routed like a call from outside); a
//! caller-ID prefix (ACD-4: the longest configured prefix with digits after
//! it; the rest is dialled out showing the mapped outside line); any other
//! number (dialled out showing the extension's own caller ID). For a caller
//! from outside (a trunk peer, a simulated outside caller): outside lines only.

use crate::tenant::{Route, Tenant};

/// Where a dialled number leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An extension (internal call).
    Extension(String),
    /// A company outside line and its route.
    Line {
        /// The line number.
        line: String,
        /// Where its calls go.
        route: Route,
    },
    /// The public network: a simulated outside party.
    Outside {
        /// The number dialled out (prefix stripped).
        number: String,
        /// The outside line shown as caller ID.
        caller_id: Option<String>,
        /// The caller-ID prefix that chose it, if any.
        prefix: Option<String>,
    },
}

/// Why a number cannot be routed: a SIP status and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoute {
    /// The SIP status to answer with.
    pub code: u16,
    /// What is wrong.
    pub reason: String,
}

fn dialable(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty()
        && digits.len() <= 32
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

/// What `dialled` means when extension `caller` dials it.
pub fn from_extension(tenant: &Tenant, caller: &str, dialled: &str) -> Result<Dest, NoRoute> {
    if tenant.extensions.contains_key(dialled) {
        return Ok(Dest::Extension(dialled.to_string()));
    }
    if let Some(line) = tenant.outside_lines.get(dialled) {
        return line_dest(dialled, line.target().route());
    }
    if let Some((prefix, line)) = tenant
        .caller_id_prefixes
        .iter()
        .filter(|(p, _)| dialled.len() > p.len() && dialled.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
    {
        let rest = &dialled[prefix.len()..];
        if !dialable(rest) {
            return Err(NoRoute {
                code: 484,
                reason: format!("'{rest}' after caller-ID prefix {prefix} is not a number"),
            });
        }
        return Ok(Dest::Outside {
            number: rest.to_string(),
            caller_id: Some(line.clone()),
            prefix: Some(prefix.clone()),
        });
    }
    if dialable(dialled) {
        return Ok(Dest::Outside {
            number: dialled.to_string(),
            caller_id: tenant.caller_id_of(caller).map(str::to_string),
            prefix: None,
        });
    }
    Err(NoRoute {
        code: 404,
        reason: format!("'{dialled}' is not a number this server can route"),
    })
}

/// What `dialled` means for a caller from outside.
pub fn from_outside(tenant: &Tenant, dialled: &str) -> Result<Dest, NoRoute> {
    match tenant.outside_lines.get(dialled) {
        Some(line) => line_dest(dialled, line.target().route()),
        None => Err(NoRoute {
            code: 404,
            reason: format!("'{dialled}' is not an outside line of this tenant"),
        }),
    }
}

fn line_dest(line: &str, route: Option<Route>) -> Result<Dest, NoRoute> {
    match route {
        Some(route) => Ok(Dest::Line {
            line: line.to_string(),
            route,
        }),
        None => Err(NoRoute {
            code: 500,
            reason: format!("outside line {line} has no valid target"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_numbers() {
        let t = Tenant::builtin();
        assert_eq!(
            from_extension(&t, "1910", "1303"),
            Ok(Dest::Extension("1303".into()))
        );
        assert_eq!(
            from_extension(&t, "1910", "0312345680"),
            Ok(Dest::Line {
                line: "0312345680".into(),
                route: Route::Queue("support".into())
            })
        );
        assert_eq!(
            from_extension(&t, "1910", "09012345678"),
            Ok(Dest::Outside {
                number: "09012345678".into(),
                caller_id: Some("0312345678".into()),
                prefix: None
            })
        );
        assert_eq!(
            from_extension(&t, "1910", "abc").map_err(|e| e.code),
            Err(404)
        );
    }

    #[test]
    fn caller_id_prefix_is_stripped_and_maps_the_line() {
        let mut t = Tenant::builtin();
        t.caller_id_prefixes
            .insert("700".into(), "0312345680".into());
        assert_eq!(
            from_extension(&t, "1910", "700209012345678"),
            Ok(Dest::Outside {
                number: "09012345678".into(),
                caller_id: Some("0312345679".into()),
                prefix: Some("7002".into())
            }),
            "the longest prefix wins"
        );
        assert_eq!(
            from_extension(&t, "1910", "70009012345678"),
            Ok(Dest::Outside {
                number: "09012345678".into(),
                caller_id: Some("0312345680".into()),
                prefix: Some("700".into())
            })
        );
        // The prefix alone is an ordinary number.
        assert!(matches!(
            from_extension(&Tenant::builtin(), "1910", "7001"),
            Ok(Dest::Outside { prefix: None, .. })
        ));
    }

    #[test]
    fn outside_callers_reach_lines_only() {
        let t = Tenant::builtin();
        assert_eq!(
            from_outside(&t, "0312345678"),
            Ok(Dest::Line {
                line: "0312345678".into(),
                route: Route::Extension("1910".into())
            })
        );
        assert_eq!(from_outside(&t, "1910").map_err(|e| e.code), Err(404));
    }
}
