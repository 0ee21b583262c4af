//! Finding the softphone's links in a CRM page (URI-3) and checking each
//! against the URI grammar the softphone accepts ([`bb_verbs::parse_uri`],
//! URI-1, URI-2).
//!
//! The scan is a small tokenizer, not a browser. It finds:
//!
//! - **`href` attributes** of any tag whose value, after entity decoding and
//!   trimming, starts with one of [`bb_verbs::URI_SCHEMES`] and a colon, in
//!   any case (`callto:`, `bbclient:`, `tel:`, `sip:`, `sips:`). These are
//!   what the operator clicks: a refused one is a failure.
//! - **plain-text occurrences** of the same schemes in text between tags,
//!   where the scheme starts a word and the colon is followed by something
//!   other than white space (so `TEL: 03-…` on a letterhead is not one).
//!   They are not clickable, so a refused one is only a warning.
//!
//! It skips comments, `<script>` and `<style>` content, and `<!…>`/`<?…>`
//! declarations; it decodes `&amp; &lt; &gt; &quot; &apos; &nbsp;` and
//! numeric references. Links built by JavaScript are not seen. Unclosed tags
//! and quotes end at the end of the input; nothing panics on any input.

use bb_verbs::{URI_SCHEMES, UriError, Verb, parse_uri};

/// Where a link was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkSource {
    /// An `href` attribute.
    Href,
    /// Plain text between tags.
    Text,
}

/// One link found in a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundLink {
    /// The URI, entity-decoded and trimmed.
    pub uri: String,
    /// 1-based line of its first occurrence.
    pub line: usize,
    /// Where it was found.
    pub source: LinkSource,
    /// How many times the same URI was found the same way.
    pub count: usize,
}

impl FoundLink {
    /// What the softphone does with it.
    pub fn check(&self) -> Result<Verb, UriError> {
        parse_uri(&self.uri)
    }
}

/// Finds the links of `html`, in order of first occurrence, duplicates
/// merged (same URI, same source).
pub fn find_links(html: &str) -> Vec<FoundLink> {
    let mut scan = Scan {
        html,
        found: Vec::new(),
    };
    scan.run();
    scan.found
}

struct Scan<'a> {
    html: &'a str,
    found: Vec<FoundLink>,
}

/// A start tag's name and `href` values (with their byte offsets).
struct Tag {
    name: String,
    closing: bool,
    hrefs: Vec<(usize, String)>,
}

impl Scan<'_> {
    fn run(&mut self) {
        let html = self.html;
        let bytes = html.as_bytes();
        let mut i = 0;
        let mut text_start = 0;
        while i < bytes.len() {
            if bytes[i] != b'<' {
                i += 1;
                continue;
            }
            if html[i..].starts_with("<!--") {
                self.text(text_start, i);
                i = match html[i + 4..].find("-->") {
                    Some(end) => i + 4 + end + 3,
                    None => bytes.len(),
                };
                text_start = i;
                continue;
            }
            let opens = bytes
                .get(i + 1)
                .is_some_and(|&b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?'));
            if !opens {
                i += 1;
                continue;
            }
            self.text(text_start, i);
            let (tag, end) = parse_tag(html, i);
            i = end;
            if let Some(tag) = tag {
                for (at, value) in tag.hrefs {
                    let uri = clean_href(&decode_entities(&value));
                    if has_our_scheme(&uri) {
                        self.add(uri, at, LinkSource::Href);
                    }
                }
                if !tag.closing && (tag.name == "script" || tag.name == "style") {
                    i = skip_raw_text(html, i, &tag.name);
                }
            }
            text_start = i;
        }
        self.text(text_start, bytes.len());
    }

    /// Scans the text between `from` and `to` for plain-text occurrences.
    fn text(&mut self, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let Some(raw) = self.html.get(from..to) else {
            return;
        };
        let text = decode_entities(raw);
        let first_line = line_of(self.html, from);
        for (offset, uri) in text_occurrences(&text) {
            let line = first_line + text[..offset].matches('\n').count();
            self.add_at_line(uri, line, LinkSource::Text);
        }
    }

    fn add(&mut self, uri: String, at: usize, source: LinkSource) {
        let line = line_of(self.html, at);
        self.add_at_line(uri, line, source);
    }

    fn add_at_line(&mut self, uri: String, line: usize, source: LinkSource) {
        if let Some(seen) = self
            .found
            .iter_mut()
            .find(|f| f.uri == uri && f.source == source)
        {
            seen.count += 1;
            return;
        }
        self.found.push(FoundLink {
            uri,
            line,
            source,
            count: 1,
        });
    }
}

/// 1-based line of byte offset `at`.
fn line_of(html: &str, at: usize) -> usize {
    let at = at.min(html.len());
    html.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses the tag starting at `start` (a `<`); returns it (None for
/// declarations and comments) and the offset just after its `>`.
fn parse_tag(html: &str, start: usize) -> (Option<Tag>, usize) {
    let bytes = html.as_bytes();
    let mut i = start + 1;
    if matches!(bytes.get(i), Some(b'!') | Some(b'?')) {
        let end = html[i..].find('>').map_or(bytes.len(), |e| i + e + 1);
        return (None, end);
    }
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b':')) {
        i += 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let mut tag = Tag {
        name,
        closing,
        hrefs: Vec::new(),
    };
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (Some(tag), bytes.len());
        }
        if bytes[i] == b'>' {
            return (Some(tag), i + 1);
        }
        let attr_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        if i == attr_start {
            // A stray character such as '"': step over it.
            i += 1;
            continue;
        }
        let attr = html[attr_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let (value_start, value_end, next) = match bytes.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let from = i + 1;
                match html[from..].find(q as char) {
                    Some(e) => (from, from + e, from + e + 1),
                    None => (from, bytes.len(), bytes.len()),
                }
            }
            _ => {
                let from = i;
                let mut e = i;
                while e < bytes.len() && !bytes[e].is_ascii_whitespace() && bytes[e] != b'>' {
                    e += 1;
                }
                (from, e, e)
            }
        };
        if attr == "href" || attr == "xlink:href" {
            tag.hrefs
                .push((value_start, html[value_start..value_end].to_owned()));
        }
        i = next;
    }
}

/// Skips the content of a raw-text element to its closing tag.
fn skip_raw_text(html: &str, from: usize, name: &str) -> usize {
    let needle = format!("</{name}");
    let rest = &html.as_bytes()[from..];
    rest.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        .map_or(html.len(), |p| from + p)
}

/// Browsers strip surrounding white space and remove tabs and line breaks
/// inside a URL.
fn clean_href(value: &str) -> String {
    value
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// True when `uri` starts with one of the softphone's schemes and a colon.
fn has_our_scheme(uri: &str) -> bool {
    scheme_len_at(uri.as_bytes(), 0).is_some()
}

/// The length of `scheme:` when one of ours starts at `at`.
fn scheme_len_at(bytes: &[u8], at: usize) -> Option<usize> {
    URI_SCHEMES.iter().find_map(|scheme| {
        let end = at + scheme.len();
        let matches = bytes
            .get(at..end)
            .is_some_and(|b| b.eq_ignore_ascii_case(scheme.as_bytes()))
            && bytes.get(end) == Some(&b':');
        matches.then_some(scheme.len() + 1)
    })
}

/// Characters that may continue a number written in full width or with
/// typographic dashes (the forms `normalize_number` accepts).
fn is_number_form(c: char) -> bool {
    matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}')
}

/// Plain-text occurrences: `(byte offset, uri)`.
fn text_occurrences(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let starts_word = text[..i]
            .chars()
            .next_back()
            .is_none_or(|p| !(p.is_alphanumeric() || matches!(p, '+' | '-' | '.' | '_' | '/')));
        let scheme = if starts_word {
            scheme_len_at(bytes, i)
        } else {
            None
        };
        let Some(scheme_len) = scheme else {
            i += 1;
            continue;
        };
        let rest = &text[i + scheme_len..];
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                c.is_whitespace()
                    || matches!(c, '<' | '>' | '"' | '\'' | '`')
                    || (!c.is_ascii() && !is_number_form(c))
            })
            .map_or(rest.len(), |(e, _)| e);
        let uri = trim_trailing(&text[i..i + scheme_len + end]);
        if uri.len() > scheme_len {
            out.push((i, uri.to_owned()));
        }
        i += scheme_len + end.max(1);
    }
    out
}

/// Drops sentence punctuation after a URI in text, and a closing bracket
/// that has no opening one.
fn trim_trailing(mut s: &str) -> &str {
    loop {
        let Some(last) = s.chars().next_back() else {
            return s;
        };
        let unbalanced = |open: char, close: char| {
            last == close && s.matches(open).count() < s.matches(close).count()
        };
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '．' | '，')
            || unbalanced('(', ')')
            || unbalanced('（', '）')
        {
            s = &s[..s.len() - last.len_utf8()];
        } else {
            return s;
        }
    }
}

/// Decodes the basic named entities and numeric references; anything else
/// stays as written.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let at = &rest[amp..];
        let decoded = at[1..].find(';').filter(|&e| e <= 10).and_then(|e| {
            let name = &at[1..e + 1];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse::<u32>().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 2))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(html: &str) -> Vec<(String, usize, LinkSource)> {
        find_links(html)
            .into_iter()
            .map(|l| (l.uri, l.line, l.source))
            .collect()
    }

    #[test]
    fn hrefs_in_any_quoting_and_case() {
        let html = "<a href=\"callto:0312345678\">a</a>\n<A HREF='BBClient:hangup'>b</A>\n<a href=tel:1330>c</a><a class=x href = \" sip:1330@pbx \">d</a>";
        assert_eq!(
            uris(html),
            vec![
                ("callto:0312345678".into(), 1, LinkSource::Href),
                ("BBClient:hangup".into(), 2, LinkSource::Href),
                ("tel:1330".into(), 3, LinkSource::Href),
                ("sip:1330@pbx".into(), 3, LinkSource::Href),
            ]
        );
    }

    #[test]
    fn other_hrefs_comments_and_scripts_are_ignored() {
        let html = "<a href=\"https://crm/x?callto:1\">x</a><!-- <a href=\"callto:1\"> -->\
            <script>var u = 'callto:' + n; // bbclient:hangup</script><style>a[href^=\"tel:\"]{}</style>\
            <a href=\"mailto:a@b\">m</a><!DOCTYPE html>";
        assert_eq!(uris(html), vec![]);
    }

    #[test]
    fn entities_are_decoded_and_duplicates_merged() {
        let html = "<a href=\"callto:03&#45;1234\">1</a><a href=\"callto:03&#45;1234\">2</a>";
        let found = find_links(html);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].uri, "callto:03-1234");
        assert_eq!(found[0].count, 2);
    }

    #[test]
    fn text_occurrences_need_a_word_start_and_no_space() {
        let html = "<p>Call tel:03-1234-5678. Or (callto:1330), or TEL: 03-1111 \
            or gossip:x or 電話 callto:0312345678、担当</p>";
        assert_eq!(
            uris(html),
            vec![
                ("tel:03-1234-5678".into(), 1, LinkSource::Text),
                ("callto:1330".into(), 1, LinkSource::Text),
                ("callto:0312345678".into(), 1, LinkSource::Text),
            ]
        );
    }

    #[test]
    fn checks_use_the_softphone_grammar() {
        let found = find_links(
            "<a href=\"bbclient:format:c\">x</a><a href=\"callto:03-CALL-NOW\">y</a>\
             <a href=\"bbclient:config:server=evil\">z</a><a href=\"callto:03-1234-5678\">ok</a>",
        );
        let verdicts: Vec<bool> = found.iter().map(|l| l.check().is_ok()).collect();
        assert_eq!(verdicts, vec![false, false, false, true]);
    }

    #[test]
    fn broken_markup_never_panics() {
        for html in [
            "<",
            "<a",
            "<a href",
            "<a href=",
            "<a href=\"callto:1",
            "<!--",
            "<script>",
            "&#xFFFFFFFF; &#0; &",
            "<a href='callto:１３３０'>",
            "callto:",
            "tel:)",
            "<a \"=x href=callto:1>",
            "é<a href=sip:1>",
        ] {
            let _ = find_links(html);
        }
        assert_eq!(uris("<a href=\"callto:1")[0].0, "callto:1");
        assert_eq!(uris("<a \"=x href=callto:1>")[0].0, "callto:1");
    }
}
