//! Where bbconform's settings come from: the softphone's own settings file
//! (`bbclient run --config FILE`) or the `--url/--method/--params` options.
//!
//! Only the keys bbconform needs are read: `[account] user` (for
//! `%Exten%`), `[operator]`, `[web] skip_internal`, `[web.popup]` and
//! `[web.detail]`. The last four are read as strictly as the softphone reads
//! them (an unknown key is an error, `method` must be GET or POST) and are
//! validated by `bb_cti`'s own [`PopupSettings::validate`] and
//! [`DetailSettings::validate`], so a file bbconform accepts is one the
//! softphone accepts for these keys. Other tables are ignored; `bbclient`
//! checks those itself.
//!
//! In `--url` mode the operator password (`%OpPW%`) comes from the
//! environment variable [`OP_PW_ENV`], never from an argument (which `ps`
//! and shell history would keep).

use std::io::Read as _;
use std::path::Path;

use bb_cti::request::{DetailSettings, HttpMethod, PopupSettings};
use bb_cti::{OperatorLogin, Secret};
use serde::Deserialize;

use super::UsageError;

/// The environment variable holding `%OpPW%` in `--url` mode.
pub const OP_PW_ENV: &str = "BBCONFORM_OP_PW";
/// `%OpId%` in `--url` mode when `--op-id` is not given.
pub const DEFAULT_OP_ID: &str = "bbconform-op";
/// `%OpPW%` in `--url` mode when [`OP_PW_ENV`] is not set.
pub const DEFAULT_OP_PW: &str = "bbconform-pw";
/// `%Exten%` when the settings file has no `[account] user`.
pub const DEFAULT_EXTEN: &str = "1910";

/// The options as given on the command line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Source<'a> {
    /// `--config FILE`.
    pub config: Option<&'a Path>,
    /// `--url URL`.
    pub url: Option<&'a str>,
    /// `--method GET|POST` (popup only).
    pub method: Option<&'a str>,
    /// `--params FILE|-`.
    pub params: Option<&'a str>,
    /// `--op-id ID`.
    pub op_id: Option<&'a str>,
    /// `--skip-internal BOOL`.
    pub skip_internal: Option<bool>,
}

/// What the popup checks run against.
#[derive(Debug, Clone)]
pub struct PopupTarget {
    /// The validated popup settings.
    pub settings: PopupSettings,
    /// `%OpId%`, `%OpPW%`.
    pub operator: OperatorLogin,
    /// `%Exten%`.
    pub exten: String,
    /// `web.skip_internal` (WEB-6).
    pub skip_internal: bool,
    /// Where the settings came from, for the report header.
    pub origin: String,
}

/// What the detail checks run against.
#[derive(Debug, Clone)]
pub struct DetailTarget {
    /// The validated detail-view settings.
    pub settings: DetailSettings,
    /// `%OpId%`, `%OpPW%`.
    pub operator: OperatorLogin,
    /// `%Exten%`.
    pub exten: String,
    /// Where the settings came from, for the report header.
    pub origin: String,
}

/// The part of the softphone's settings file bbconform reads. Unknown
/// top-level tables are ignored; inside the tables read, unknown keys are
/// refused, as the softphone refuses them.
#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    account: Account,
    #[serde(default)]
    operator: Operator,
    #[serde(default)]
    web: Web,
}

/// `[account]`: only `user` is read.
#[derive(Debug, Default, Deserialize)]
struct Account {
    #[serde(default)]
    user: String,
}

/// `[operator]`, as in `softphone/src/config.rs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Operator {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
    /// Read so that a file with it is accepted; bbconform sends no login.
    #[serde(default)]
    #[allow(dead_code)]
    api_url: String,
    /// As `api_url`.
    #[serde(default)]
    #[allow(dead_code)]
    timeout_ms: Option<u64>,
}

/// `[web]`, as in `softphone/src/config.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Web {
    #[serde(default = "yes")]
    skip_internal: bool,
    #[serde(default)]
    popup: Option<Popup>,
    #[serde(default)]
    detail: Option<Detail>,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            skip_internal: true,
            popup: None,
            detail: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn get() -> String {
    "GET".to_owned()
}

/// `[web.popup]`, as in `softphone/src/config.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Popup {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    params: String,
}

/// `[web.detail]`, as in `softphone/src/config.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Detail {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    params: String,
    #[serde(default)]
    open_browser_on_ring: bool,
    /// Accepted, as the softphone accepts it; bbconform opens no browser.
    #[serde(default, rename = "browser")]
    _browser: String,
}

/// Reads and parses the settings file.
fn read_file(path: &Path) -> Result<File, UsageError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "cannot read settings file '{}': {e} (give the path of the softphone's settings file to --config)",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| {
        UsageError(format!(
            "settings file '{}': {} (fix the file as bbclient would require)",
            path.display(),
            toml_message(&text, &e)
        ))
    })
}

/// One line from a toml error, `line 5: unknown field …`; mirrors
/// `softphone/src/config.rs`.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or("");
            let mut line = before.lines().count().max(1);
            if before.ends_with('\n') {
                line += 1;
            }
            format!("line {line}: {what}")
        }
        None => what,
    }
}

/// Parses a method as `softphone/src/hooks.rs` does: trimmed, any case.
fn parse_method(key: &str, text: &str) -> Result<HttpMethod, String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "GET" => Ok(HttpMethod::Get),
        "POST" => Ok(HttpMethod::Post),
        _ => Err(format!(
            "{key}: '{}' is not a method (write \"GET\" or \"POST\")",
            text.escape_debug()
        )),
    }
}

/// Reads `--params FILE|-`; none is no parameters.
fn read_params(params: Option<&str>) -> Result<String, UsageError> {
    match params {
        None => Ok(String::new()),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                UsageError(format!(
                    "cannot read --params from standard input: {e} (pipe name=value lines in UTF-8)"
                ))
            })?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read --params file '{path}': {e} (give a UTF-8 file with one name=value per line, or - for standard input)"
            ))
        }),
    }
}

/// The operator of `--url` mode.
fn url_mode_operator(op_id: Option<&str>) -> OperatorLogin {
    let password = std::env::var(OP_PW_ENV).unwrap_or_else(|_| DEFAULT_OP_PW.to_owned());
    OperatorLogin {
        id: op_id.unwrap_or(DEFAULT_OP_ID).to_owned(),
        password: Secret::new(password),
    }
}

fn file_operator(file: &File) -> OperatorLogin {
    OperatorLogin {
        id: file.operator.login_id.clone(),
        password: Secret::new(file.operator.password.clone()),
    }
}

fn file_exten(file: &File) -> String {
    let user = file.account.user.trim();
    if user.is_empty() {
        DEFAULT_EXTEN.to_owned()
    } else {
        user.to_owned()
    }
}

/// Builds the popup target from the options.
pub fn popup_target(src: &Source<'_>) -> Result<PopupTarget, UsageError> {
    if let Some(path) = src.config {
        let file = read_file(path)?;
        let origin = path.display().to_string();
        let Some(popup) = &file.web.popup else {
            return Err(UsageError(format!(
                "settings file '{origin}' has no [web.popup] table (add [web.popup] with url = \"https://…\", or use --url)"
            )));
        };
        let in_file = |m: String| UsageError(format!("settings file '{origin}': {m}"));
        let method = parse_method("web.popup.method", &popup.method).map_err(in_file)?;
        let settings = PopupSettings::validate(method, &popup.url, &popup.params)
            .map_err(|e| in_file(format!("web.popup: {e}")))?;
        return Ok(PopupTarget {
            settings,
            operator: file_operator(&file),
            exten: file_exten(&file),
            skip_internal: file.web.skip_internal,
            origin,
        });
    }
    let url = src.url.ok_or_else(|| {
        UsageError("give --config FILE (the softphone's settings) or --url URL".to_owned())
    })?;
    let method = parse_method("--method", src.method.unwrap_or("GET")).map_err(UsageError)?;
    let params = read_params(src.params)?;
    let settings =
        PopupSettings::validate(method, url, &params).map_err(|e| UsageError(format!("{e}")))?;
    Ok(PopupTarget {
        settings,
        operator: url_mode_operator(src.op_id),
        exten: DEFAULT_EXTEN.to_owned(),
        skip_internal: src.skip_internal.unwrap_or(true),
        origin: "--url".to_owned(),
    })
}

/// Builds the detail-view target from the options.
pub fn detail_target(src: &Source<'_>) -> Result<DetailTarget, UsageError> {
    if let Some(path) = src.config {
        let file = read_file(path)?;
        let origin = path.display().to_string();
        let Some(detail) = &file.web.detail else {
            return Err(UsageError(format!(
                "settings file '{origin}' has no [web.detail] table (add [web.detail] with url = \"https://…\", or use --url)"
            )));
        };
        let in_file = |m: String| UsageError(format!("settings file '{origin}': {m}"));
        let method = parse_method("web.detail.method", &detail.method).map_err(in_file)?;
        let settings = DetailSettings::validate(
            method,
            &detail.url,
            &detail.params,
            detail.open_browser_on_ring,
        )
        .map_err(|e| in_file(format!("web.detail: {e}")))?;
        return Ok(DetailTarget {
            settings,
            operator: file_operator(&file),
            exten: file_exten(&file),
            origin,
        });
    }
    let url = src.url.ok_or_else(|| {
        UsageError("give --config FILE (the softphone's settings) or --url URL".to_owned())
    })?;
    let params = read_params(src.params)?;
    let settings = DetailSettings::validate(HttpMethod::Get, url, &params, false)
        .map_err(|e| UsageError(format!("{e}")))?;
    Ok(DetailTarget {
        settings,
        operator: url_mode_operator(src.op_id),
        exten: DEFAULT_EXTEN.to_owned(),
        origin: "--url".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<File, String> {
        toml::from_str::<File>(text).map_err(|e| toml_message(text, &e))
    }

    #[test]
    fn example_settings_file_is_read() {
        let text = include_str!("../../../fixtures/config/example.toml");
        let f = match file(text) {
            Ok(f) => f,
            Err(e) => panic!("example.toml: {e}"),
        };
        assert_eq!(f.account.user, "1910");
        assert_eq!(f.operator.login_id, "op1910");
        assert!(f.web.skip_internal);
        assert!(f.web.popup.is_some());
        assert!(f.web.detail.is_some());
    }

    #[test]
    fn unknown_key_in_popup_is_refused_with_its_line() {
        let e = match file("[web.popup]\nurl = \"https://x.test/\"\nurll = 1\n") {
            Ok(_) => panic!("unknown key accepted"),
            Err(e) => e,
        };
        assert!(e.starts_with("line 3: unknown field `urll`"), "{e}");
    }

    #[test]
    fn other_tables_are_ignored() {
        assert!(file("[command]\non_ring = \"x\"\n[sip]\nt1_ms = 20\n").is_ok());
    }

    #[test]
    fn methods_as_the_softphone_reads_them() {
        assert_eq!(parse_method("k", " post "), Ok(HttpMethod::Post));
        assert_eq!(parse_method("k", "get"), Ok(HttpMethod::Get));
        assert_eq!(
            parse_method("web.popup.method", "PUT"),
            Err("web.popup.method: 'PUT' is not a method (write \"GET\" or \"POST\")".to_owned())
        );
    }
}
