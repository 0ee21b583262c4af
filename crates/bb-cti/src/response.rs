//! Turning a CRM's answer into text for the popup window (WEB-1).
//!
//! [`decode_body`] cuts the body to a size limit and decodes it with the
//! charset from the `Content-Type` header, else a byte-order mark, else a
//! `<meta charset>` (or `http-equiv`) in the first 1024 bytes of an HTML
//! answer, else UTF-8. Labels follow the WHATWG Encoding Standard through
//! `encoding_rs` (so `Shift_JIS`, `shift-jis`, `sjis`, `windows-31j`, `ms932`
//! all mean Shift_JIS). Bad bytes become U+FFFD; decoding never fails.
//!
//! [`to_display_text`] turns a small HTML answer into plain text. It is
//! modest on purpose: it drops tags, comments and the contents of `<script>`,
//! `<style>`, `<head>`, `<template>` and `<noscript>`; turns block tags and
//! `<br>` into line breaks; decodes `&amp; &lt; &gt; &quot; &apos; &nbsp;` and
//! numeric references; collapses white space; and removes control and
//! bidirectional-override characters. It runs no script and loads nothing.

use encoding_rs::Encoding;

/// A decoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedBody {
    /// The text.
    pub text: String,
    /// Name of the encoding used (`UTF-8`, `Shift_JIS`, …).
    pub charset_used: &'static str,
    /// True when the body was longer than the limit and was cut.
    pub truncated: bool,
    /// True when the answer is HTML (by Content-Type, or by sniffing when
    /// there is none).
    pub is_html: bool,
}

/// Decodes at most `limit` bytes of a response body.
pub fn decode_body(bytes: &[u8], content_type: Option<&str>, limit: usize) -> DecodedBody {
    let truncated = bytes.len() > limit;
    let bytes = &bytes[..bytes.len().min(limit)];
    let mime = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_html = if mime.is_empty() {
        looks_like_html(bytes)
    } else {
        mime == "text/html" || mime == "application/xhtml+xml"
    };
    let declared = content_type
        .and_then(charset_param)
        .and_then(|label| label_to_encoding(&label))
        .or_else(|| {
            if is_html {
                sniff_meta_charset(bytes)
            } else {
                None
            }
        })
        .unwrap_or(encoding_rs::UTF_8);
    // `decode` lets a BOM override the declared charset, as browsers do.
    let (text, used, _had_errors) = declared.decode(bytes);
    let mut text = text.into_owned();
    if truncated && text.ends_with('\u{FFFD}') {
        // The cut fell inside a multi-byte character.
        text.pop();
    }
    DecodedBody {
        text,
        charset_used: used.name(),
        truncated,
        is_html,
    }
}

fn label_to_encoding(label: &str) -> Option<&'static Encoding> {
    let enc = Encoding::for_label_no_replacement(label.as_bytes())?;
    // WHATWG: a UTF-16 declaration inside the bytes cannot be right.
    if enc == encoding_rs::UTF_16BE || enc == encoding_rs::UTF_16LE {
        return Some(encoding_rs::UTF_8);
    }
    Some(enc)
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

fn looks_like_html(bytes: &[u8]) -> bool {
    let head: Vec<u8> = bytes.iter().take(512).map(u8::to_ascii_lowercase).collect();
    let head = String::from_utf8_lossy(&head);
    let trimmed = head.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    trimmed.starts_with("<!doctype html")
        || [
            "<html", "<head", "<body", "<meta", "<div", "<p>", "<br", "<table", "<span",
        ]
        .iter()
        .any(|t| head.contains(t))
}

/// Finds `<meta charset=…>` or `<meta http-equiv … content="…; charset=…">`
/// in the first 1024 bytes.
fn sniff_meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head: Vec<u8> = bytes
        .iter()
        .take(1024)
        .map(u8::to_ascii_lowercase)
        .collect();
    let head = String::from_utf8_lossy(&head);
    let mut rest: &str = &head;
    while let Some(pos) = rest.find("<meta") {
        let tag_start = &rest[pos..];
        let tag = &tag_start[..tag_start.find('>').unwrap_or(tag_start.len())];
        if let Some(cpos) = tag.find("charset") {
            let after = tag[cpos + "charset".len()..].trim_start();
            if let Some(after) = after.strip_prefix('=') {
                let after = after.trim_start().trim_start_matches(['"', '\'']);
                let end = after
                    .find(|c: char| {
                        c == '"' || c == '\'' || c == ';' || c == '/' || c.is_whitespace()
                    })
                    .unwrap_or(after.len());
                if let Some(enc) = label_to_encoding(&after[..end]) {
                    return Some(enc);
                }
            }
        }
        rest = &tag_start[5..];
    }
    None
}

/// Text for the popup: plain text is cleaned, HTML is turned into text.
pub fn to_display_text(body: &DecodedBody) -> String {
    if body.is_html {
        html_to_text(&body.text)
    } else {
        tidy(&body.text)
    }
}

/// Elements whose contents are never shown.
const HIDDEN: [&str; 6] = ["script", "style", "head", "template", "noscript", "title"];

/// Elements that start a new line.
const BLOCKS: [&str; 23] = [
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "dt",
    "dd",
    "dl",
    "section",
    "article",
    "header",
    "footer",
    "pre",
    "blockquote",
];

/// Turns HTML into plain text (see the module docs for what it does).
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let at = &rest[lt..];
        if let Some(comment) = at.strip_prefix("<!--") {
            rest = match comment.find("-->") {
                Some(end) => &comment[end + 3..],
                None => "",
            };
            continue;
        }
        let opens_tag = at[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !opens_tag {
            // "5 < 6": a '<' that is not a tag.
            out.push('<');
            rest = &at[1..];
            continue;
        }
        let Some(gt) = at.find('>') else {
            // An unclosed '<': show the rest as text.
            out.push_str(&decode_entities(at));
            rest = "";
            break;
        };
        let inner = &at[1..gt];
        rest = &at[gt + 1..];
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            // "<!DOCTYPE …>", "<?xml …>", "</>": dropped.
            continue;
        }
        if !closing && !inner.ends_with('/') && HIDDEN.contains(&name.as_str()) {
            rest = skip_past_close(rest, &name);
            continue;
        }
        if name == "br" {
            out.push('\n');
        } else if BLOCKS.contains(&name.as_str()) {
            // One line break per block boundary, however many tags meet.
            if !out.trim_end_matches([' ', '\t']).ends_with('\n') {
                out.push('\n');
            }
        } else if name == "td" || name == "th" {
            out.push(' ');
        }
    }
    out.push_str(&decode_entities(rest));
    tidy(&out)
}

/// Skips to just after `</name>` (case-insensitive), or to the end.
fn skip_past_close<'a>(text: &'a str, name: &str) -> &'a str {
    let lower = text.to_ascii_lowercase();
    let needle = format!("</{name}");
    match lower.find(&needle) {
        Some(pos) => match text[pos..].find('>') {
            Some(gt) => &text[pos + gt + 1..],
            None => "",
        },
        None => "",
    }
}

/// Decodes the basic named entities and numeric references; anything else
/// stays as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let at = &rest[amp..];
        let end = at[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1);
        let decoded = end.filter(|&e| at[e..].starts_with(';')).and_then(|e| {
            let name = &at[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse::<u32>().ok(),
                    }?;
                    char::from_u32(code)
                }
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &at[len..];
            }
            None => {
                out.push('&');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes control and bidi characters, collapses spaces within lines,
/// trims lines and keeps at most one empty line in a row.
fn tidy(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.replace("\r\n", "\n").split(['\n', '\r']) {
        let mut line = String::new();
        let mut space = false;
        for c in raw.chars() {
            if c.is_whitespace() {
                space = true;
                continue;
            }
            if c.is_control() || crate::redact::is_bidi_control(c) || c == '\u{feff}' {
                continue;
            }
            if space && !line.is_empty() {
                line.push(' ');
            }
            space = false;
            line.push(c);
        }
        let blank = line.is_empty();
        if blank && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_default() {
        let d = decode_body("顧客: 山田".as_bytes(), Some("text/plain"), 1000);
        assert_eq!(d.text, "顧客: 山田");
        assert_eq!(d.charset_used, "UTF-8");
        assert!(!d.truncated);
        assert!(!d.is_html);
    }

    #[test]
    fn shift_jis_from_header() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("顧客: 山田");
        for ct in [
            "text/plain; charset=Shift_JIS",
            "text/plain;charset=\"shift-jis\"",
            "text/plain; CHARSET=sjis",
            "text/plain; charset=windows-31j",
        ] {
            let d = decode_body(&bytes, Some(ct), 1000);
            assert_eq!(d.text, "顧客: 山田", "{ct}");
            assert_eq!(d.charset_used, "Shift_JIS");
        }
    }

    #[test]
    fn shift_jis_from_meta() {
        let html = "<html><head><meta charset=\"Shift_JIS\"><title>x</title></head><body>山田 様</body></html>";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(html);
        let d = decode_body(&bytes, Some("text/html"), 1000);
        assert_eq!(d.charset_used, "Shift_JIS");
        assert_eq!(to_display_text(&d), "山田 様");
        let html2 =
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">山田";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(html2);
        let d = decode_body(&bytes, None, 1000);
        assert!(d.is_html);
        assert_eq!(d.charset_used, "Shift_JIS");
        assert_eq!(to_display_text(&d), "山田");
    }

    #[test]
    fn header_beats_meta() {
        let html = "<meta charset=shift_jis>山田";
        let d = decode_body(html.as_bytes(), Some("text/html; charset=utf-8"), 1000);
        assert_eq!(d.charset_used, "UTF-8");
        assert_eq!(to_display_text(&d), "山田");
    }

    #[test]
    fn truncation_drops_partial_char() {
        let text = "あいう";
        let d = decode_body(text.as_bytes(), None, 4);
        assert!(d.truncated);
        assert_eq!(d.text, "あ");
    }

    #[test]
    fn html_to_text_basics() {
        let html = "<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head>\
            <body><h1>Customer</h1><p>Name: <b>Yamada</b> &amp; Co &lt;VIP&gt;</p>\
            <script>alert('x')</script><!-- hidden --><table><tr><td>a</td><td>b</td></tr></table>\
            &#x5C71;&#30000; &unknown; & 5 < 6</body></html>";
        assert_eq!(
            html_to_text(html),
            "Customer\nName: Yamada & Co <VIP>\na b\n山田 &unknown; & 5 < 6"
        );
    }

    #[test]
    fn br_makes_blank_lines_blocks_do_not() {
        assert_eq!(
            html_to_text("<div><p>a</p></div><div>b<br><br>c</div>"),
            "a\nb\n\nc"
        );
    }

    #[test]
    fn html_strips_controls_and_bidi() {
        assert_eq!(html_to_text("a\u{202e}b\u{7}c&#7;d"), "abcd");
        assert_eq!(html_to_text("<SCRIPT>x</SCRIPT >ok"), "ok");
        assert_eq!(html_to_text("<script>never closed"), "");
    }
}
