//! Building CRM HTTP requests (WEB-1, WEB-3, WEB-4) as plain data.
//!
//! Settings are validated once, at save: [`PopupSettings::validate`] and
//! [`DetailSettings::validate`] check the URL (absolute `http`/`https`) and
//! the parameter lines, and refuse POST for the detail view. Building a
//! request for a call then cannot fail.
//!
//! **Encoding.** Names and values are substituted first, then percent-encoded
//! as UTF-8 with one documented set: the unreserved characters of RFC 3986
//! (`A-Z a-z 0-9 - . _ ~`) stay literal and every other byte becomes `%XX`
//! (uppercase hex). This is a strict subset of what
//! `application/x-www-form-urlencoded` decoders accept, with two deliberate
//! differences from the form serializer: space is `%20` (not `+`) and `+` is
//! `%2B`, so `+81…` arrives as `+81…` whatever the server's decoder does with
//! `+`.
//!
//! **GET** appends `name=value&…` to the URL's query, before any `#fragment`:
//! `?` is added when the URL has no query, nothing when it ends with `?` or
//! `&`, and `&` otherwise. **POST** sends the same text as an
//! `application/x-www-form-urlencoded` body and leaves the URL as configured.
//! Placeholders are substituted in parameter lines only, not in the URL.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use thiserror::Error;
use url::Url;

use crate::call::CallValues;
use crate::params::{ParamError, ParamLines, ParamWarning};
use crate::redact::REDACTED;
use crate::template::{Placeholder, Template};

/// Content type of a POST body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Everything except the RFC 3986 unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one name or value with this crate's set (see the module
/// docs): `A-Z a-z 0-9 - . _ ~` literal, everything else `%XX` of its UTF-8.
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// HTTP method of the popup request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// Parameters in the URL query.
    #[default]
    Get,
    /// Parameters in a form body.
    Post,
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        })
    }
}

/// A request for the driver to send. Pure data.
#[derive(Clone, PartialEq, Eq)]
pub struct CrmRequest {
    /// Method.
    pub method: HttpMethod,
    /// Full URL, query included for GET. Always parses as an absolute
    /// http(s) URL.
    pub url: String,
    /// Body for POST.
    pub body: Option<Vec<u8>>,
    /// Content-Type of the body, for POST.
    pub content_type: Option<&'static str>,
    /// The same request as one line for logs, with `%OpPW%`'s value shown as
    /// `***` (exactly where it was substituted, nothing else).
    pub for_log: String,
}

impl fmt::Debug for CrmRequest {
    /// Shows only the log copy: the URL and body may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrmRequest")
            .field("for_log", &self.for_log)
            .finish_non_exhaustive()
    }
}

/// A configured CRM URL: absolute, `http` or `https`, normalised by the
/// `url` crate (so it is ASCII and parses again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrmUrl {
    text: String,
    https: bool,
}

/// A URL setting that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum UrlError {
    /// Nothing was entered.
    #[error(
        "{context} is empty (write the CRM's full address, e.g. https://crm.example.com/popup)"
    )]
    Empty {
        /// Which setting.
        context: String,
    },
    /// The text does not parse as an absolute URL.
    #[error(
        "{context} '{value}' is not an absolute URL: {reason} (write the full address starting with https://)"
    )]
    Invalid {
        /// Which setting.
        context: String,
        /// The value as entered.
        value: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The scheme is not http or https.
    #[error("{context} '{value}' uses '{scheme}:' (only http:// and https:// URLs can be used)")]
    Scheme {
        /// Which setting.
        context: String,
        /// The value as entered.
        value: String,
        /// The scheme found.
        scheme: String,
    },
}

impl CrmUrl {
    /// Validates a URL setting; `context` names it in errors (`popup url`).
    pub fn parse(context: &str, text: &str) -> Result<CrmUrl, UrlError> {
        let value = text.trim();
        if value.is_empty() {
            return Err(UrlError::Empty {
                context: context.to_owned(),
            });
        }
        let url = Url::parse(value).map_err(|e| UrlError::Invalid {
            context: context.to_owned(),
            value: value.escape_debug().to_string(),
            reason: e.to_string(),
        })?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(UrlError::Scheme {
                    context: context.to_owned(),
                    value: value.escape_debug().to_string(),
                    scheme: other.to_owned(),
                });
            }
        };
        Ok(CrmUrl {
            text: url.as_str().to_owned(),
            https,
        })
    }

    /// The normalised URL.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Display for CrmUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Appends an already-encoded `query` (`a=1&b=2`) to `url`'s query, before
/// any fragment: no `??`, no `&&`, no lost `&`.
pub fn append_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len() + query.len() + 1);
    out.push_str(base);
    match base.find('?') {
        None => out.push('?'),
        Some(_) if base.ends_with('?') || base.ends_with('&') => {}
        Some(_) => out.push('&'),
    }
    out.push_str(query);
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Encodes the parameters as `name=value&…`; with `redact`, `%OpPW%`'s value
/// is written as `***`.
fn encode_params(params: &ParamLines, values: &CallValues, redact: bool) -> String {
    let render = |t: &Template| {
        t.render_with(
            |p| {
                if redact && p == Placeholder::OpPw {
                    Cow::Borrowed(REDACTED)
                } else {
                    Cow::Owned(encode_component(p.value(values)))
                }
            },
            |lit| Cow::Owned(encode_component(lit)),
        )
    };
    let mut out = String::new();
    for (i, line) in params.lines().iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&render(&line.name));
        out.push('=');
        out.push_str(&render(&line.value));
    }
    out
}

/// Builds the popup request (WEB-1, WEB-3) for one call.
pub fn build_popup(
    method: HttpMethod,
    url: &CrmUrl,
    params: &ParamLines,
    values: &CallValues,
) -> CrmRequest {
    let query = encode_params(params, values, false);
    let log_query = encode_params(params, values, true);
    match method {
        HttpMethod::Get => {
            let log_url = append_query(url.as_str(), &log_query);
            CrmRequest {
                method,
                url: append_query(url.as_str(), &query),
                body: None,
                content_type: None,
                for_log: format!("GET {}", crate::redact::redact_url(&log_url)),
            }
        }
        HttpMethod::Post => {
            // A URL written for GET ends in an empty `?`; a POST carries its
            // parameters in the body, so that empty query is dropped.
            let target = post_target(url.as_str());
            CrmRequest {
                method,
                url: target.to_string(),
                body: Some(query.into_bytes()),
                content_type: Some(FORM_CONTENT_TYPE),
                for_log: format!(
                    "POST {} body {}",
                    crate::redact::redact_url(&target),
                    crate::redact::redact_pairs(&log_query)
                ),
            }
        }
    }
}

/// The URL a POST goes to: the configured one without an empty trailing query
/// (`…/in?` → `…/in`, `…/in?#top` → `…/in#top`); a non-empty query is kept.
fn post_target(url: &str) -> std::borrow::Cow<'_, str> {
    let (base, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    match base.strip_suffix('?') {
        Some(b) if !b.contains('?') => std::borrow::Cow::Owned(format!("{b}{fragment}")),
        _ => std::borrow::Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod post_target_tests {
    use super::post_target;

    #[test]
    fn empty_query_is_dropped_for_post() {
        assert_eq!(post_target("https://c/in?"), "https://c/in");
        assert_eq!(post_target("https://c/in?#x"), "https://c/in#x");
        assert_eq!(post_target("https://c/in?a=1"), "https://c/in?a=1");
        assert_eq!(post_target("https://c/in"), "https://c/in");
    }
}

/// Builds the detail-view request (WEB-4): always GET; its `url` is what the
/// browser opens.
pub fn build_detail(url: &CrmUrl, params: &ParamLines, values: &CallValues) -> CrmRequest {
    build_popup(HttpMethod::Get, url, params, values)
}

/// A settings problem that blocks saving.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SettingsError {
    /// The URL is unusable.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A parameter line is unusable.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// POST was chosen for the detail view.
    #[error(
        "detail view: method POST is not supported, the detail view opens in the web browser and is GET only (choose GET)"
    )]
    DetailPost,
}

/// Something worth telling the user when saving, that does not block it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingsWarning {
    /// `%OpPW%` would travel unencrypted.
    PasswordOverHttp {
        /// Which setting (`popup`, `detail view`).
        context: &'static str,
        /// The URL.
        url: String,
    },
    /// `%OpPW%` would be written into a URL query, where servers, proxies and
    /// browser history keep it.
    PasswordInQuery {
        /// Which setting.
        context: &'static str,
    },
    /// A placeholder was written in the URL, where it is not substituted.
    PlaceholderInUrl {
        /// Which setting.
        context: &'static str,
        /// The placeholder.
        placeholder: Placeholder,
    },
    /// An unknown `%Name%` in a parameter line.
    UnknownPlaceholder {
        /// Which setting.
        context: &'static str,
        /// Where and what.
        warning: ParamWarning,
    },
}

impl fmt::Display for SettingsWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsWarning::PasswordOverHttp { context, url } => write!(
                f,
                "{context}: %OpPW% would be sent unencrypted to '{url}' (use an https:// URL)"
            ),
            SettingsWarning::PasswordInQuery { context } => write!(
                f,
                "{context}: %OpPW% would be sent in the URL query, where servers, proxies and browser history keep it (use POST, or leave %OpPW% out)"
            ),
            SettingsWarning::PlaceholderInUrl {
                context,
                placeholder,
            } => write!(
                f,
                "{context}: the URL contains {placeholder}, which is not substituted there (move it to a parameter line)"
            ),
            SettingsWarning::UnknownPlaceholder { context, warning } => {
                write!(f, "{context} parameters, {warning}")
            }
        }
    }
}

fn common_warnings(
    context: &'static str,
    method: HttpMethod,
    raw_url: &str,
    url: &CrmUrl,
    params: &ParamLines,
) -> Vec<SettingsWarning> {
    let mut out = Vec::new();
    if params.uses(Placeholder::OpPw) {
        if !url.is_https() {
            out.push(SettingsWarning::PasswordOverHttp {
                context,
                url: url.as_str().to_owned(),
            });
        }
        if method == HttpMethod::Get {
            out.push(SettingsWarning::PasswordInQuery { context });
        }
    }
    let url_template = Template::parse(raw_url);
    for placeholder in Placeholder::ALL {
        if url_template.uses(placeholder) {
            out.push(SettingsWarning::PlaceholderInUrl {
                context,
                placeholder,
            });
        }
    }
    for warning in params.warnings() {
        out.push(SettingsWarning::UnknownPlaceholder { context, warning });
    }
    out
}

/// Validated popup-request settings (WEB-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopupSettings {
    /// GET or POST.
    pub method: HttpMethod,
    /// Where to send it.
    pub url: CrmUrl,
    /// Parameter lines.
    pub params: ParamLines,
    warnings: Vec<SettingsWarning>,
}

impl PopupSettings {
    /// Validates the popup settings as entered.
    pub fn validate(method: HttpMethod, url: &str, params: &str) -> Result<Self, SettingsError> {
        let crm_url = CrmUrl::parse("popup url", url)?;
        let params = ParamLines::parse_in("popup parameters", params)?;
        let warnings = common_warnings("popup", method, url, &crm_url, &params);
        Ok(PopupSettings {
            method,
            url: crm_url,
            params,
            warnings,
        })
    }

    /// Non-blocking problems found at validation (Q-3 password checks,
    /// unknown placeholders).
    pub fn warnings(&self) -> &[SettingsWarning] {
        &self.warnings
    }

    /// The request for one call.
    pub fn build(&self, values: &CallValues) -> CrmRequest {
        build_popup(self.method, &self.url, &self.params, values)
    }
}

/// Validated detail-view settings (WEB-4, WEB-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailSettings {
    /// The CRM screen to open.
    pub url: CrmUrl,
    /// Parameter lines.
    pub params: ParamLines,
    /// Open it in the browser as soon as a call comes in (WEB-5).
    pub open_on_ring: bool,
    warnings: Vec<SettingsWarning>,
}

impl DetailSettings {
    /// Validates the detail-view settings; `method` must be GET.
    pub fn validate(
        method: HttpMethod,
        url: &str,
        params: &str,
        open_on_ring: bool,
    ) -> Result<Self, SettingsError> {
        if method != HttpMethod::Get {
            return Err(SettingsError::DetailPost);
        }
        let crm_url = CrmUrl::parse("detail url", url)?;
        let params = ParamLines::parse_in("detail parameters", params)?;
        let warnings = common_warnings("detail view", HttpMethod::Get, url, &crm_url, &params);
        Ok(DetailSettings {
            url: crm_url,
            params,
            open_on_ring,
            warnings,
        })
    }

    /// Non-blocking problems found at validation.
    pub fn warnings(&self) -> &[SettingsWarning] {
        &self.warnings
    }

    /// The URL to open in the browser for one call.
    pub fn build(&self, values: &CallValues) -> CrmRequest {
        build_detail(&self.url, &self.params, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;

    const GUIDE_PARAMS: &str = "number=%CallerNumber%\noutline=%OutLineNumber%\ncampaignid=1234\nuser_name=test_user\nuser_password=test_pass";

    fn values() -> CallValues {
        CallValues {
            caller_number: "09012345678".into(),
            exten: "1910".into(),
            outline_number: "0312345678".into(),
            call_id: "abc@pbx".into(),
            op_id: "op1".into(),
            op_pw: Secret::new("s3cr&t pw".into()),
        }
    }

    fn url(s: &str) -> CrmUrl {
        CrmUrl::parse("popup url", s).unwrap()
    }

    #[test]
    fn guide_example_get() {
        let p = ParamLines::parse(GUIDE_PARAMS).unwrap();
        let r = build_popup(
            HttpMethod::Get,
            &url("https://crm.test.com/softphone/popup/in?"),
            &p,
            &values(),
        );
        assert_eq!(
            r.url,
            "https://crm.test.com/softphone/popup/in?number=09012345678&outline=0312345678&campaignid=1234&user_name=test_user&user_password=test_pass"
        );
        assert_eq!(r.body, None);
        assert_eq!(r.content_type, None);
    }

    #[test]
    fn guide_example_post() {
        let p = ParamLines::parse(GUIDE_PARAMS).unwrap();
        let r = build_popup(
            HttpMethod::Post,
            &url("https://crm.test.com/softphone/popup/in?"),
            &p,
            &values(),
        );
        // The empty query of a URL written for GET is dropped for POST.
        assert_eq!(r.url, "https://crm.test.com/softphone/popup/in");
        assert_eq!(
            r.body.as_deref(),
            Some(
                &b"number=09012345678&outline=0312345678&campaignid=1234&user_name=test_user&user_password=test_pass"[..]
            )
        );
        assert_eq!(r.content_type, Some(FORM_CONTENT_TYPE));
    }

    #[test]
    fn url_joining() {
        let cases = [
            ("https://h.test/in", "https://h.test/in?a=1"),
            ("https://h.test/in?", "https://h.test/in?a=1"),
            ("https://h.test/in?x=2", "https://h.test/in?x=2&a=1"),
            ("https://h.test/in?x=2&", "https://h.test/in?x=2&a=1"),
            ("https://h.test/in#frag", "https://h.test/in?a=1#frag"),
            (
                "https://h.test/in?x=2#frag",
                "https://h.test/in?x=2&a=1#frag",
            ),
            ("https://h.test/in?#f?g", "https://h.test/in?a=1#f?g"),
            ("https://h.test", "https://h.test/?a=1"),
        ];
        let p = ParamLines::parse("a=1").unwrap();
        for (base, want) in cases {
            let r = build_popup(HttpMethod::Get, &url(base), &p, &values());
            assert_eq!(r.url, want, "base {base}");
            assert!(Url::parse(&r.url).is_ok());
        }
    }

    #[test]
    fn no_params_leaves_url_alone() {
        let p = ParamLines::parse("").unwrap();
        let r = build_popup(
            HttpMethod::Get,
            &url("https://h.test/in?x=1"),
            &p,
            &values(),
        );
        assert_eq!(r.url, "https://h.test/in?x=1");
        let r = build_popup(HttpMethod::Post, &url("https://h.test/in"), &p, &values());
        assert_eq!(r.body.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn encoding_set() {
        assert_eq!(encode_component("+81 3-1234.5_6~"), "%2B81%203-1234.5_6~");
        assert_eq!(
            encode_component("a&b=c%d#e?f/g"),
            "a%26b%3Dc%25d%23e%3Ff%2Fg"
        );
        assert_eq!(encode_component("あ"), "%E3%81%82");
        assert_eq!(encode_component("*#@"), "%2A%23%40");
    }

    #[test]
    fn log_copy_hides_only_password() {
        let p = ParamLines::parse("id=%OpId%\npw=%OpPW%\nn=%CallerNumber%").unwrap();
        for method in [HttpMethod::Get, HttpMethod::Post] {
            let r = build_popup(method, &url("https://h.test/in"), &p, &values());
            assert!(r.for_log.contains("pw=***"), "{}", r.for_log);
            assert!(r.for_log.contains("n=09012345678"));
            assert!(!r.for_log.contains("s3cr"));
            assert!(!format!("{r:?}").contains("s3cr"));
        }
        let r = build_popup(HttpMethod::Get, &url("https://h.test/in"), &p, &values());
        assert!(r.url.contains("pw=s3cr%26t%20pw"));
    }

    #[test]
    fn url_validation_errors() {
        let e = CrmUrl::parse("popup url", "crm.test.com/in").unwrap_err();
        assert_eq!(
            e.to_string(),
            "popup url 'crm.test.com/in' is not an absolute URL: relative URL without a base (write the full address starting with https://)"
        );
        let e = CrmUrl::parse("popup url", "ftp://crm.test.com/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "popup url 'ftp://crm.test.com/' uses 'ftp:' (only http:// and https:// URLs can be used)"
        );
        let e = CrmUrl::parse("popup url", "  ").unwrap_err();
        assert!(e.to_string().starts_with("popup url is empty"));
        assert!(CrmUrl::parse("popup url", "http://h.test/").is_ok());
    }

    #[test]
    fn detail_refuses_post() {
        let e =
            DetailSettings::validate(HttpMethod::Post, "https://h.test/", "", false).unwrap_err();
        assert_eq!(e, SettingsError::DetailPost);
        assert!(e.to_string().contains("(choose GET)"));
        let d = DetailSettings::validate(
            HttpMethod::Get,
            "https://h.test/d",
            "n=%CallerNumber%",
            true,
        )
        .unwrap();
        let r = d.build(&values());
        assert_eq!(r.method, HttpMethod::Get);
        assert_eq!(r.url, "https://h.test/d?n=09012345678");
    }

    #[test]
    fn settings_errors_carry_context() {
        let e = PopupSettings::validate(HttpMethod::Get, "https://h.test/", "a=1\nb").unwrap_err();
        assert_eq!(
            e.to_string(),
            "popup parameters, line 2: 'b' has no '=' (write name=value)"
        );
    }

    #[test]
    fn password_warnings() {
        let s = PopupSettings::validate(HttpMethod::Get, "http://h.test/", "pw=%OpPW%").unwrap();
        assert!(
            s.warnings()
                .iter()
                .any(|w| matches!(w, SettingsWarning::PasswordOverHttp { .. }))
        );
        assert!(
            s.warnings()
                .iter()
                .any(|w| matches!(w, SettingsWarning::PasswordInQuery { .. }))
        );
        let s = PopupSettings::validate(HttpMethod::Post, "https://h.test/", "pw=%OpPW%").unwrap();
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        let s = PopupSettings::validate(HttpMethod::Get, "https://h.test/", "n=%CallerNumber%")
            .unwrap();
        assert!(s.warnings().is_empty());
        let s = DetailSettings::validate(HttpMethod::Get, "https://h.test/", "pw=%OpPW%", false)
            .unwrap();
        assert_eq!(s.warnings().len(), 1);
        assert!(s.warnings()[0].to_string().contains("URL query"));
    }

    #[test]
    fn placeholder_in_url_warns() {
        let s =
            PopupSettings::validate(HttpMethod::Get, "https://h.test/%CallerNumber%", "").unwrap();
        assert_eq!(
            s.warnings(),
            &[SettingsWarning::PlaceholderInUrl {
                context: "popup",
                placeholder: Placeholder::CallerNumber
            }]
        );
    }
}
