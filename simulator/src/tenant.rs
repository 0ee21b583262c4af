//! The tenant: who the fake BlueBean server knows (extensions, outside lines).
//!
//! Loaded from TOML; `bluebean-sim --print-default-config` prints the built-in
//! default tenant that is used when no file is given. Unknown keys are refused
//! so that a typo in a QA team's tenant file fails at start-up, naming the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The whole tenant configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// SIP realm used in digest challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Extensions by number.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
    /// Company outside lines by number.
    #[serde(default, rename = "outside_lines")]
    pub outside_lines: BTreeMap<String, OutsideLine>,
}

fn default_realm() -> String {
    "bluebean".to_string()
}

/// A SIP extension (a softphone's account).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// The SIP digest password.
    pub password: String,
    /// Display name shown to called parties.
    #[serde(default)]
    pub name: String,
}

/// A company outside line (a DID number) and where its calls go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutsideLine {
    /// The extension that rings for calls to this line.
    pub extension: String,
}

/// Why a tenant file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The file could not be read.
    #[error("cannot read tenant file '{path}': {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key.
    #[error("tenant file '{path}': {message}")]
    Parse {
        /// The file.
        path: String,
        /// What toml said (names the key and line).
        message: String,
    },
    /// The content is inconsistent.
    #[error("tenant file '{path}': {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Tenant {
    /// The built-in tenant used when none is given.
    pub fn builtin() -> Tenant {
        let mut extensions = BTreeMap::new();
        for (number, name) in [
            ("1910", "Operator 1910"),
            ("1911", "Operator 1911"),
            ("1912", "Operator 1912"),
            ("1303", "Operator 1303"),
            ("1330", "Operator 1330"),
        ] {
            extensions.insert(
                number.to_string(),
                Extension {
                    password: format!("pw{number}"),
                    name: name.to_string(),
                },
            );
        }
        let mut outside_lines = BTreeMap::new();
        outside_lines.insert(
            "0312345678".to_string(),
            OutsideLine {
                extension: "1910".to_string(),
            },
        );
        outside_lines.insert(
            "0312345679".to_string(),
            OutsideLine {
                extension: "1911".to_string(),
            },
        );
        Tenant {
            realm: default_realm(),
            extensions,
            outside_lines,
        }
    }

    /// Parses and checks a tenant from TOML text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &str) -> Result<Tenant, TenantError> {
        let tenant: Tenant = toml::from_str(text).map_err(|e| TenantError::Parse {
            path: path.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        for (number, line) in &tenant.outside_lines {
            if !tenant.extensions.contains_key(&line.extension) {
                return Err(TenantError::Invalid {
                    path: path.to_string(),
                    message: format!(
                        "outside_lines.{number}.extension: '{}' is not an extension of this tenant",
                        line.extension
                    ),
                });
            }
        }
        Ok(tenant)
    }

    /// Reads a tenant file.
    pub fn load(path: &Path) -> Result<Tenant, TenantError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TenantError::Read {
            path: shown.clone(),
            source,
        })?;
        Tenant::from_toml(&text, &shown)
    }

    /// The TOML text of this tenant.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render tenant: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_round_trips_through_toml() {
        let t = Tenant::builtin();
        assert_eq!(Tenant::from_toml(&t.to_toml(), "x").expect("parses"), t);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Tenant::from_toml("[extensions.1910]\npasword = \"x\"\n", "t.toml")
            .expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("t.toml") && msg.contains("pasword"), "{msg}");
    }

    #[test]
    fn outside_line_to_unknown_extension_is_refused() {
        let err = Tenant::from_toml("[outside_lines.0312]\nextension = \"9\"\n", "t.toml")
            .expect_err("refused");
        assert!(err.to_string().contains("outside_lines.0312.extension"));
    }
}
