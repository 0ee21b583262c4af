//! The checks: what bbconform concludes from each exchange, and the three
//! runs (`popup`, `detail`, `links`) that put them together.
//!
//! Per popup request (WEB-1): `reachable`, `tls` (https only), `redirects`,
//! `status` (2xx), `time` (under [`FIRST_RING`]), `size` (within the
//! softphone's body limit), `charset` (the declared or assumed charset
//! decodes the body) and `display` (the text the popup would show, by
//! `bb_cti`'s own decoder). Per detail page (WEB-4): the same minus the
//! popup-only limits, plus `url` and one `link` check per link found
//! (URI-1…URI-3). A failed exchange reports the one check that names the
//! failure (`reachable`, `tls`, `redirects` or `time`) and skips the checks
//! that need an answer.

use std::time::Duration;

use bb_cti::request::{CrmRequest, CrmUrl, HttpMethod, SettingsWarning};
use bb_cti::template::Placeholder;
use bb_cti::{CallValues, DecodedBody, Secret, decode_body, to_display_text};
use encoding_rs::{DecoderResult, Encoding};
use reqwest::header::{HeaderName, HeaderValue};

use super::UsageError;
use super::cases::CaseName;
use super::http::{self, Exchange, Failure, FailureKind, Fetch};
use super::links::{FoundLink, LinkSource, find_links};
use super::report::{Group, Report, Verdict};
use super::settings::{DetailTarget, PopupTarget};

/// The popup must be up within the first ring: Japanese ringback is 1 s on,
/// 2 s off, and an operator answers within a ring or two.
pub const FIRST_RING: Duration = Duration::from_secs(1);

/// Longest detail URL every browser and proxy keeps intact.
pub const MAX_URL_LEN: usize = 2048;

/// Popup requests or pages: the limits differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Popup,
    Page,
}

/// Runs the popup matrix.
pub async fn run_popup(target: &PopupTarget, cases: &[CaseName]) -> Report {
    let s = &target.settings;
    let mut report = Report::new(
        "popup",
        &format!("{} {}", s.method, s.url),
        &target.origin,
        target.operator.password.clone(),
    );
    let mut settings = Group::new("settings", "the popup settings (WEB-1..WEB-3)");
    settings.pass(
        "settings",
        format!(
            "{} {} with {} parameter line{}; valid for the softphone",
            s.method,
            s.url,
            s.params.lines().len(),
            if s.params.lines().len() == 1 { "" } else { "s" }
        ),
    );
    settings_warnings(&mut settings, s.warnings(), s.url.is_https(), "popup");
    if !s.params.uses(Placeholder::CallerNumber) {
        settings.warn(
            "placeholders",
            "no parameter uses %CallerNumber%, so the CRM cannot tell who is calling (add e.g. number=%CallerNumber%)",
        );
    }
    report.push(settings);
    for &case in cases {
        let values = case.values(&target.exten, &target.operator);
        let mut g = Group::new(case.as_str(), case.describe(&values));
        if CaseName::is_internal(&values) {
            if target.skip_internal {
                g.pass(
                    "internal",
                    format!(
                        "the softphone counts this call as internal ('{}' looks like an extension and no outside line was called) and sends nothing, because web.skip_internal = true (WEB-6); not sent",
                        values.caller_number
                    ),
                );
                report.push(g);
                continue;
            }
            g.pass(
                "internal",
                "an internal call; web.skip_internal = false, so the softphone sends the popup request for it too",
            );
        }
        let request = s.build(&values);
        g.request = Some(request.for_log.clone());
        let method = request.method;
        let https = request.url.starts_with("https:");
        let ex = http::send(&Fetch::popup(request)).await;
        g.time_ms = Some(millis(ex.elapsed));
        exchange_checks(&mut g, &ex, Mode::Popup, method, https);
        if ex.failure.is_none() {
            let decoded = decode_body(
                &ex.body,
                ex.content_type.as_deref(),
                bb_cti::Limits::default().max_body_bytes,
            );
            display_check(&mut g, &decoded);
        }
        report.push(g);
    }
    report
}

/// Runs the detail-view checks for each case.
pub async fn run_detail(
    target: &DetailTarget,
    cases: &[CaseName],
    headers: &[(HeaderName, HeaderValue)],
) -> Report {
    let s = &target.settings;
    let mut report = Report::new(
        "detail",
        &format!("GET {}", s.url),
        &target.origin,
        target.operator.password.clone(),
    );
    let mut settings = Group::new("settings", "the detail-view settings (WEB-4)");
    settings.pass(
        "settings",
        format!(
            "GET {} with {} parameter line{}; valid for the softphone",
            s.url,
            s.params.lines().len(),
            if s.params.lines().len() == 1 { "" } else { "s" }
        ),
    );
    settings_warnings(&mut settings, s.warnings(), s.url.is_https(), "detail view");
    report.push(settings);
    for &case in cases {
        let values = case.values(&target.exten, &target.operator);
        let request = s.build(&values);
        let mut g = Group::new(
            case.as_str(),
            format!("the detail view for: {}", case.describe(&values)),
        );
        g.request = Some(request.for_log.clone());
        url_check(&mut g, &request, &values);
        page_checks(&mut g, request, headers).await;
        report.push(g);
    }
    report
}

/// Runs the link scan of a file, standard input or URL.
pub async fn run_links(
    target: &str,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<Report, UsageError> {
    let is_url = ["http://", "https://"].iter().any(|p| {
        target
            .get(..p.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(p))
    });
    let mut report = Report::new("links", target, "", Secret::default());
    let mut g = Group::new("links", format!("the links in {target}"));
    if is_url {
        let url = CrmUrl::parse("links URL", target).map_err(|e| UsageError(e.to_string()))?;
        let request = CrmRequest {
            method: HttpMethod::Get,
            url: url.as_str().to_owned(),
            body: None,
            content_type: None,
            for_log: format!("GET {url}"),
        };
        g.request = Some(request.for_log.clone());
        page_checks(&mut g, request, headers).await;
    } else {
        let bytes = read_input(target)?;
        charset_check(&mut g, &bytes, Some("text/html"), bytes.len(), "page");
        let decoded = decode_body(&bytes, Some("text/html"), bytes.len());
        link_checks(&mut g, &find_links(&decoded.text), true);
    }
    report.push(g);
    Ok(report)
}

/// Reads a file, or standard input for `-`.
fn read_input(target: &str) -> Result<Vec<u8>, UsageError> {
    if target == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map_err(|e| {
            UsageError(format!(
                "cannot read the page from standard input: {e} (pipe an HTML file in)"
            ))
        })?;
        return Ok(bytes);
    }
    std::fs::read(target).map_err(|e| {
        UsageError(format!(
            "cannot read '{target}': {e} (give an HTML file, - for standard input, or an http(s):// URL)"
        ))
    })
}

/// Network or error text for one report line: control and bidirectional
/// characters escaped (so nothing can forge a line or reorder what is read),
/// at most `max` characters; quotes stay as they are.
fn one_line(text: &str, max: usize) -> String {
    let count = text.chars().count();
    let mut out = String::with_capacity(text.len().min(max * 4));
    for c in text.chars().take(max) {
        if c.is_control() || is_bidi(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    if count > max {
        out.push_str(&format!("…({count} chars)"));
    }
    out
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Longest error or URI text kept in a report line.
const MAX_TEXT: usize = 600;

/// Longest popup text kept in the `display` line (the full text is in the
/// JSON `display_text`).
const MAX_DISPLAY: usize = 200;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The settings warnings of `bb_cti`, plus plain HTTP.
fn settings_warnings(g: &mut Group, warnings: &[SettingsWarning], https: bool, what: &str) {
    for w in warnings {
        let name = match w {
            SettingsWarning::PasswordOverHttp { .. } | SettingsWarning::PasswordInQuery { .. } => {
                "password"
            }
            _ => "placeholders",
        };
        g.warn(name, w.to_string());
    }
    if !https {
        g.warn(
            "transport",
            format!(
                "the {what} URL is http://: caller numbers and logins travel unencrypted (use https://)"
            ),
        );
    }
}

/// The detail URL's length (WEB-4): what the browser is handed.
fn url_check(g: &mut Group, request: &CrmRequest, values: &CallValues) {
    let len = request.url.len();
    if len > MAX_URL_LEN {
        g.warn(
            "url",
            format!(
                "the URL the softphone opens is {len} bytes; some browsers and proxies cut URLs over {MAX_URL_LEN} bytes (send fewer or shorter parameters; the Call-ID here is {} bytes)",
                values.call_id.len()
            ),
        );
    } else {
        g.pass(
            "url",
            format!("the softphone opens this URL in the browser ({len} bytes)"),
        );
    }
}

/// Fetches a page (detail view, links URL) and checks it and its links.
async fn page_checks(g: &mut Group, request: CrmRequest, headers: &[(HeaderName, HeaderValue)]) {
    let https = request.url.starts_with("https:");
    let ex = http::send(&Fetch::page(request, headers)).await;
    g.time_ms = Some(millis(ex.elapsed));
    exchange_checks(g, &ex, Mode::Page, HttpMethod::Get, https);
    if ex.failure.is_none() {
        let decoded = decode_body(&ex.body, ex.content_type.as_deref(), http::BROWSER_MAX_BODY);
        link_checks(g, &find_links(&decoded.text), false);
    }
}

/// The checks of one exchange, in a fixed order.
fn exchange_checks(g: &mut Group, ex: &Exchange, mode: Mode, method: HttpMethod, https: bool) {
    if let Some(failure) = &ex.failure {
        failure_check(g, ex, failure, mode);
        return;
    }
    let remote = ex
        .remote
        .map(|a| a.to_string())
        .unwrap_or_else(|| "the server".to_owned());
    g.pass(
        "reachable",
        format!(
            "connected to {remote} ({})",
            ex.version.as_deref().unwrap_or("HTTP")
        ),
    );
    if https {
        g.pass(
            "tls",
            "certificate accepted, checked against this computer's trust store as the softphone checks it",
        );
    }
    redirect_check(g, ex, method, https);
    status_check(g, ex);
    time_check(g, ex, mode);
    let limit = match mode {
        Mode::Popup => bb_cti::Limits::default().max_body_bytes,
        Mode::Page => http::BROWSER_MAX_BODY,
    };
    size_check(g, ex, mode, limit);
    charset_check(
        g,
        &ex.body,
        ex.content_type.as_deref(),
        limit,
        match mode {
            Mode::Popup => "popup",
            Mode::Page => "page",
        },
    );
}

/// The one check that names why an exchange failed.
fn failure_check(g: &mut Group, ex: &Exchange, failure: &Failure, mode: Mode) {
    let msg = one_line(&failure.message, MAX_TEXT);
    match failure.kind {
        FailureKind::Timeout => {
            if let Some(status) = ex.status {
                g.pass("reachable", format!("answered HTTP {status}"));
            }
            let consequence = match mode {
                Mode::Popup => {
                    " The softphone cancels the popup request then and shows nothing (answer within 1 s)."
                }
                Mode::Page => " The browser would show an endless spinner (answer within a few seconds).",
            };
            g.fail("time", format!("{msg}.{consequence}"));
        }
        FailureKind::Tls => g.fail("tls", msg),
        FailureKind::Connect => g.fail(
            "reachable",
            format!(
                "cannot connect: {msg} (check the URL's host and port, and that the CRM is running and reachable from the operators' PCs)"
            ),
        ),
        FailureKind::Redirects => g.fail("redirects", redirect_failure(ex, mode)),
        FailureKind::Other => g.fail(
            "reachable",
            format!("no usable HTTP answer: {msg} (the endpoint must answer plain HTTP/1.1 or HTTP/2)"),
        ),
    }
}

fn hop_list(ex: &Exchange) -> String {
    let mut parts: Vec<String> = ex
        .hops
        .iter()
        .take(7)
        .map(|h| {
            format!(
                "{} -> {}{}",
                h.status,
                h.to,
                if h.repeats { " (again)" } else { "" }
            )
        })
        .collect();
    if ex.hops.len() > 7 {
        parts.push(format!("… ({} in all)", ex.hops.len()));
    }
    parts.join(", ")
}

fn budget(mode: Mode) -> String {
    match mode {
        Mode::Popup => format!(
            "the softphone follows at most {} redirects",
            http::POPUP_MAX_REDIRECTS
        ),
        Mode::Page => format!(
            "browsers follow at most {} redirects",
            http::BROWSER_MAX_REDIRECTS
        ),
    }
}

fn redirect_failure(ex: &Exchange, mode: Mode) -> String {
    if ex.hops.iter().any(|h| h.repeats) {
        format!(
            "redirect loop: {}; {} and then gives up (make the URL answer directly)",
            hop_list(ex),
            budget(mode)
        )
    } else {
        format!(
            "too many redirects: {}; {} (point the URL at the page that answers)",
            hop_list(ex),
            budget(mode)
        )
    }
}

fn redirect_check(g: &mut Group, ex: &Exchange, method: HttpMethod, https: bool) {
    if ex.hops.is_empty() {
        g.pass("redirects", "none");
        return;
    }
    let n = ex.hops.len();
    let plural = if n == 1 { "" } else { "s" };
    if method == HttpMethod::Post
        && let Some(hop) = ex.hops.iter().find(|h| matches!(h.status, 301..=303))
    {
        g.fail(
            "redirects",
            format!(
                "the POST was redirected with {} to {}: the softphone follows it as a GET without the form body, so the CRM never gets the parameters (answer the POST where it is sent, or redirect with 307/308)",
                hop.status, hop.to
            ),
        );
        return;
    }
    if https && let Some(hop) = ex.hops.iter().find(|h| h.to.starts_with("http:")) {
        g.warn(
            "redirects",
            format!(
                "{n} redirect{plural} followed, one from https to plain http ({}): the call data then travels unencrypted (redirect to https://)",
                hop.to
            ),
        );
        return;
    }
    g.pass(
        "redirects",
        format!("{n} redirect{plural} followed: {}", hop_list(ex)),
    );
}

fn status_check(g: &mut Group, ex: &Exchange) {
    let Some(status) = ex.status else {
        return;
    };
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    if (200..300).contains(&status) {
        g.pass("status", format!("HTTP {status}{reason}"));
    } else {
        g.fail(
            "status",
            format!(
                "HTTP {status}{reason}: the softphone logs the request as failed and shows this error page in the popup (answer 2xx with the text to show)"
            ),
        );
    }
}

fn time_check(g: &mut Group, ex: &Exchange, mode: Mode) {
    let ms = millis(ex.elapsed);
    let headers = ex
        .headers_after
        .map(|h| format!(", headers after {} ms", millis(h)))
        .unwrap_or_default();
    match mode {
        Mode::Popup => {
            let limit = millis(FIRST_RING);
            if ex.elapsed < FIRST_RING {
                g.pass(
                    "time",
                    format!("{ms} ms{headers}; inside the first ring (under {limit} ms)"),
                );
            } else {
                g.fail(
                    "time",
                    format!(
                        "{ms} ms{headers}: too slow, the popup must be up within the first ring (under {limit} ms); the softphone gives up at {} ms (answer faster: look the caller up by an index, cache, send less)",
                        millis(bb_cti::Limits::default().http)
                    ),
                );
            }
        }
        Mode::Page => {
            if ex.elapsed > Duration::from_secs(5) {
                g.warn(
                    "time",
                    format!("{ms} ms{headers}: the operator waits this long for the page"),
                );
            } else {
                g.pass("time", format!("{ms} ms{headers}"));
            }
        }
    }
}

fn size_check(g: &mut Group, ex: &Exchange, mode: Mode, limit: usize) {
    let declared = ex
        .content_length
        .map(|l| format!(", Content-Length {l}"))
        .unwrap_or_default();
    match (mode, ex.over_limit) {
        (Mode::Popup, true) => g.fail(
            "size",
            format!(
                "more than {limit} bytes{declared}: the softphone reads the first {limit} bytes only and the popup text is cut (send only what the popup shows)"
            ),
        ),
        (Mode::Page, true) => g.warn(
            "size",
            format!("more than {limit} bytes{declared}: only the first {limit} bytes were scanned for links"),
        ),
        (_, false) => g.pass(
            "size",
            format!("{} bytes (limit {limit})", ex.body.len()),
        ),
    }
}

/// The `charset` parameter of a Content-Type value, unquoted.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// True when an HTML head (first 1024 bytes) has a `<meta …charset…>`.
fn meta_declares_charset(bytes: &[u8]) -> bool {
    let head: Vec<u8> = bytes
        .iter()
        .take(1024)
        .map(u8::to_ascii_lowercase)
        .collect();
    let head = String::from_utf8_lossy(&head);
    let mut rest: &str = &head;
    while let Some(pos) = rest.find("<meta") {
        let tag = &rest[pos..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if tag.contains("charset") {
            return true;
        }
        rest = &rest[pos + 5..];
    }
    false
}

fn has_bom(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xEF, 0xBB, 0xBF])
        || bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0xFF, 0xFE])
}

/// Where the first undecodable bytes are, decoding as `bb_cti` does.
/// `None` when the bytes decode; a cut at the end of a truncated body is
/// not an error.
fn first_bad_byte(encoding: &'static Encoding, bytes: &[u8], complete: bool) -> Option<usize> {
    let mut decoder = encoding.new_decoder();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(3).saturating_add(16));
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, complete);
    match result {
        DecoderResult::Malformed(bad, after) => {
            Some(read.saturating_sub(usize::from(bad) + usize::from(after)))
        }
        DecoderResult::InputEmpty | DecoderResult::OutputFull => None,
    }
}

/// Does the declared (or assumed) charset decode the body? Mirrors the
/// precedence of `bb_cti::decode_body`: a byte-order mark, else the
/// Content-Type charset, else `<meta charset>` in HTML, else UTF-8.
fn charset_check(g: &mut Group, body: &[u8], content_type: Option<&str>, limit: usize, what: &str) {
    if body.is_empty() {
        g.pass("charset", "empty body");
        return;
    }
    let decoded = decode_body(body, content_type, limit);
    let Some(encoding) = Encoding::for_label(decoded.charset_used.as_bytes()) else {
        g.pass("charset", format!("decoded as {}", decoded.charset_used));
        return;
    };
    let cut = &body[..body.len().min(limit)];
    let label = content_type.and_then(charset_param);
    let label_known = label
        .as_deref()
        .is_some_and(|l| Encoding::for_label_no_replacement(l.as_bytes()).is_some());
    let source = if has_bom(cut) {
        "from its byte-order mark"
    } else if label_known {
        "declared in Content-Type"
    } else if decoded.is_html && meta_declares_charset(cut) {
        "declared in <meta charset>"
    } else {
        "not declared; the softphone assumes UTF-8"
    };
    let name = decoded.charset_used;
    let bad = first_bad_byte(encoding, cut, !decoded.truncated);
    let unknown = label.filter(|_| !label_known);
    match (bad, unknown) {
        (Some(at), _) => {
            let bytes: Vec<String> = cut[at..]
                .iter()
                .take(2)
                .map(|b| format!("0x{b:02X}"))
                .collect();
            let fix = if source.starts_with("not declared") {
                "declare the charset you send, e.g. Content-Type: text/html; charset=Shift_JIS, or send UTF-8".to_owned()
            } else {
                format!("send {name} bytes, or declare the charset you really send")
            };
            g.fail(
                "charset",
                format!(
                    "{name} ({source}) does not decode the body: byte {at} ({}) is not valid {name}, so the {what} would show \u{FFFD} ({fix})",
                    bytes.join(" ")
                ),
            );
        }
        (None, Some(label)) => g.warn(
            "charset",
            format!(
                "Content-Type declares charset '{}', which the softphone does not know; it decoded the body as {name} (declare UTF-8 or Shift_JIS)",
                one_line(&label, 60)
            ),
        ),
        (None, None) => g.pass("charset", format!("{name} ({source})")),
    }
}

/// What the popup would show (WEB-1), by `bb_cti`'s own decoder.
fn display_check(g: &mut Group, decoded: &DecodedBody) {
    let text = to_display_text(decoded);
    if text.trim().is_empty() {
        g.warn(
            "display",
            "the popup would be empty (answer with the text the operator should see)",
        );
    } else {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        g.pass(
            "display",
            format!(
                "the popup shows: \"{}\"",
                one_line(&lines.join(" / "), MAX_DISPLAY)
            ),
        );
    }
    g.display_text = Some(text);
}

/// One check per link found (URI-1…URI-3).
fn link_checks(g: &mut Group, links: &[FoundLink], warn_if_none: bool) {
    if links.is_empty() {
        let detail = "no callto:, bbclient:, tel: or sip: links found (links built by JavaScript are not seen)";
        if warn_if_none {
            g.warn("links", detail);
        } else {
            g.pass("links", detail);
        }
        return;
    }
    for link in links {
        let name = format!("link L{}", link.line);
        let name = name.as_str();
        let place = match link.source {
            LinkSource::Href => format!("line {}, href", link.line),
            LinkSource::Text => format!("line {}, plain text", link.line),
        };
        let more = if link.count > 1 {
            format!(" ({} times)", link.count)
        } else {
            String::new()
        };
        match link.check() {
            Ok(verb) => g.pass(
                name,
                format!(
                    "{place}{more}: {} -> the softphone will {verb}",
                    one_line(&link.uri, MAX_TEXT)
                ),
            ),
            Err(e) => {
                let hint = if link.uri.to_ascii_lowercase().starts_with("bbclient:")
                    && matches!(
                        e,
                        bb_verbs::UriError::UnknownVerb { .. }
                            | bb_verbs::UriError::CommandLineOnly { .. }
                    ) {
                    "; a link can only control calls (URI-2), never settings, logins or the program"
                } else {
                    ""
                };
                let verdict = match link.source {
                    LinkSource::Href => Verdict::Fail,
                    LinkSource::Text => Verdict::Warn,
                };
                let tail = match link.source {
                    LinkSource::Href => " The softphone refuses this link.",
                    LinkSource::Text => {
                        " (plain text, not a link: it only matters if the page turns it into one)"
                    }
                };
                g.add(name, verdict, format!("{place}{more}: {e}{hint}.{tail}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charset(body: &[u8], ct: Option<&str>) -> (Verdict, String) {
        let mut g = Group::new("t", "t");
        charset_check(&mut g, body, ct, 1 << 16, "popup");
        let c = &g.checks[0];
        (c.verdict, c.detail.clone())
    }

    #[test]
    fn charset_verdicts() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("山田様");
        let (v, d) = charset(&sjis, Some("text/plain; charset=Shift_JIS"));
        assert_eq!(
            (v, d.as_str()),
            (Verdict::Pass, "Shift_JIS (declared in Content-Type)")
        );
        let (v, d) = charset(&sjis, Some("text/plain"));
        assert_eq!(v, Verdict::Fail, "{d}");
        assert!(d.contains("not declared") && d.contains("byte 0"), "{d}");
        let (v, d) = charset(b"ok \x82\x20 bad", Some("text/plain; charset=shift_jis"));
        assert_eq!(v, Verdict::Fail, "{d}");
        assert!(
            d.contains("byte 3 (0x82 0x20) is not valid Shift_JIS"),
            "{d}"
        );
        let (v, _) = charset("山田".as_bytes(), None);
        assert_eq!(v, Verdict::Pass);
        let (v, d) = charset(b"abc", Some("text/plain; charset=klingon"));
        assert_eq!(v, Verdict::Warn, "{d}");
        let html = "<meta charset=\"Shift_JIS\">山田";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(html);
        let (v, d) = charset(&bytes, Some("text/html"));
        assert_eq!(
            (v, d.as_str()),
            (Verdict::Pass, "Shift_JIS (declared in <meta charset>)")
        );
    }

    #[test]
    fn a_cut_inside_a_character_is_not_a_charset_fault() {
        let body = "あいう".as_bytes();
        let mut g = Group::new("t", "t");
        charset_check(&mut g, body, None, 4, "popup");
        assert_eq!(g.checks[0].verdict, Verdict::Pass, "{:?}", g.checks);
    }
}
