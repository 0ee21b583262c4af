//! The checks: Request-Line and Request-URI, the header fields a UA or the
//! stack interprets (Via, From, To, Contact, Route, Call-ID, CSeq,
//! Max-Forwards, Expires, Content-Type, Require, Accept) and the Status-Line
//! of a response. Each finding becomes a [`Defect`] on the [`Parsed`]
//! message. The grammar of each header field is in [`super::grammar`].

use super::Policy;
use super::grammar::{self, Cur, RequestUri};
use super::scan::{
    Class, Decimal, Defect, Header, Parsed, StartLine, is_lws, is_token_char, parse_decimal, shown,
    trim_lws,
};

/// The methods rsipstack 0.7.14 can represent (`rsipstack::sip::Method`);
/// matched case-sensitively, as RFC 3261 section 7.1 requires.
pub(crate) const KNOWN_METHODS: [&[u8]; 14] = [
    b"ACK",
    b"BYE",
    b"CANCEL",
    b"INFO",
    b"INVITE",
    b"MESSAGE",
    b"NOTIFY",
    b"OPTIONS",
    b"PRACK",
    b"PUBLISH",
    b"REFER",
    b"REGISTER",
    b"SUBSCRIBE",
    b"UPDATE",
];

/// The checks that need no [`Policy`]: grammar and header semantics. Run by
/// [`parse_datagram`](super::parse_datagram).
pub(crate) fn check_grammar(p: &mut Parsed<'_>) {
    match p.start {
        Some(StartLine::Request {
            method,
            uri,
            version,
        }) => check_request(p, method, uri, version),
        Some(StartLine::Response { version, code, .. }) => check_response(p, version, code),
        None => {}
    }
}

/// The checks that depend on what this UA supports (420, 415, 406) and, for
/// responses, on its role (RFC 3261 section 8.1.3.3).
pub(crate) fn check_policy(p: &mut Parsed<'_>, policy: &Policy) {
    let mut found = Vec::new();
    match p.start {
        Some(StartLine::Request { method, .. }) => {
            if method != b"ACK" && method != b"CANCEL" {
                found.extend(check_require(p, policy));
            }
            found.extend(check_body_type(p, policy, method));
            if method == b"INVITE" && policy.reject_inacceptable_accept {
                found.extend(check_accept(p));
            }
        }
        Some(StartLine::Response { .. }) if policy.discard_multi_via_responses => {
            let vias: usize = p.all(Header::Via).map(|f| count_list(&f.value)).sum();
            if vias > 1 {
                found.push(Defect::new(
                    Class::Semantic,
                    format!(
                        "response has {vias} Via values; a UAC discards it (RFC 3261 section 8.1.3.3)"
                    ),
                ));
            }
        }
        _ => {}
    }
    for d in found {
        p.push_defect(d);
    }
}

fn check_request(p: &mut Parsed<'_>, method: &[u8], uri: &[u8], version: &[u8]) {
    let mut found = Vec::new();
    if let Some(d) = check_version(version, "SIP-Version") {
        found.push(d);
    }
    found.extend(check_request_line_spacing(p.start_line, uri));
    if !method.iter().all(|&b| is_token_char(b)) {
        found.push(Defect::new(
            Class::Syntax,
            format!(
                "Request-Line: expected a method (token), found '{}'",
                shown(method)
            ),
        ));
    } else if !KNOWN_METHODS.contains(&method) {
        found.push(Defect::new(
            Class::Method,
            format!("method '{}' is not implemented", shown(method)),
        ));
    }
    if !uri.iter().any(|&b| is_lws(b)) {
        found.extend(check_request_uri(uri));
    }
    found.extend(check_fields(p, Some(method)));
    found.extend(check_singletons(p));
    if !p.body.is_empty() && p.first(Header::ContentType).is_none() {
        found.push(Defect::new(
            Class::Syntax,
            format!("body of {} octets has no Content-Type", p.body.len()),
        ));
    }
    for d in found {
        p.push_defect(d);
    }
}

/// How many comma-separated values a header value holds (commas inside
/// quoted strings and angle brackets do not count).
fn count_list(v: &[u8]) -> usize {
    let (mut n, mut in_quotes, mut in_angle, mut escaped) = (1, false, false, false);
    for &b in v {
        if escaped {
            escaped = false;
        } else if in_quotes {
            match b {
                b'\\' => escaped = true,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_quotes = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b',' if !in_angle => n += 1,
                _ => {}
            }
        }
    }
    n
}

fn check_response(p: &mut Parsed<'_>, version: &[u8], code: &[u8]) {
    let mut found = Vec::new();
    if let Some(mut d) = check_version(version, "Status-Line SIP-Version") {
        // A response is never answered, so the rank only orders the log text.
        d.class = Class::Syntax;
        found.push(d);
    }
    let code_ok = code.len() == 3
        && matches!(parse_decimal(code), Decimal::Value(n) if (100..=699).contains(&n));
    if !code_ok {
        found.push(Defect::new(
            Class::Syntax,
            format!(
                "status code '{}' is not three digits from 100 to 699",
                shown(code)
            ),
        ));
    }
    for (header, name) in [
        (Header::Via, "Via"),
        (Header::From, "From"),
        (Header::To, "To"),
        (Header::CallId, "Call-ID"),
        (Header::CSeq, "CSeq"),
    ] {
        if p.first(header).is_none_or(|f| f.value.is_empty()) {
            found.push(Defect::new(
                Class::Syntax,
                format!("response has no {name}, so no transaction can match it"),
            ));
        }
    }
    found.extend(
        p.all(Header::CSeq)
            .filter_map(|f| check_cseq(&f.value, f.line, None).err()),
    );
    for d in found {
        p.push_defect(d);
    }
}

fn check_version(version: &[u8], what: &str) -> Option<Defect> {
    let numbers = version
        .get(4..)
        .filter(|_| version.len() >= 4 && version[..4].eq_ignore_ascii_case(b"SIP/"))
        .and_then(|v| {
            let dot = v.iter().position(|&b| b == b'.')?;
            match (parse_decimal(&v[..dot]), parse_decimal(&v[dot + 1..])) {
                (Decimal::Value(major), Decimal::Value(minor)) => Some((major, minor)),
                (Decimal::TooLarge, _) | (_, Decimal::TooLarge) => Some((u64::MAX, 0)),
                _ => None,
            }
        });
    match numbers {
        Some((2, 0)) => None,
        Some(_) => Some(Defect::new(
            Class::Version,
            format!(
                "{what} '{}' is not supported (only SIP/2.0)",
                shown(version)
            ),
        )),
        None => Some(Defect::new(
            Class::Syntax,
            format!("{what} '{}' is not SIP/<digits>.<digits>", shown(version)),
        )),
    }
}

fn check_request_line_spacing(line: &[u8], uri: &[u8]) -> Vec<Defect> {
    let mut found = Vec::new();
    if line.contains(&b'\t') {
        found.push(Defect::new(
            Class::Syntax,
            "Request-Line uses a tab where a single SP belongs",
        ));
    }
    if line.last().is_some_and(|&b| is_lws(b)) {
        found.push(Defect::new(
            Class::Syntax,
            "Request-Line has whitespace after the SIP-Version",
        ));
    }
    let trimmed = trim_lws(line);
    if trimmed.windows(2).any(|w| is_lws(w[0]) && is_lws(w[1])) {
        found.push(Defect::new(
            Class::Syntax,
            "Request-Line has more than one SP between its elements",
        ));
    } else if uri.iter().any(|&b| is_lws(b)) {
        found.push(Defect::new(
            Class::Syntax,
            format!("Request-URI '{}' contains whitespace", shown(uri)),
        ));
    }
    if uri.is_empty() {
        found.push(Defect::new(
            Class::Syntax,
            "Request-Line has no Request-URI",
        ));
    }
    found
}

fn check_request_uri(uri: &[u8]) -> Option<Defect> {
    if uri.is_empty() {
        return None; // reported by the spacing check
    }
    if uri.first() == Some(&b'<') || uri.last() == Some(&b'>') {
        return Some(Defect::new(
            Class::Syntax,
            format!("Request-URI '{}' is enclosed in angle brackets", shown(uri)),
        ));
    }
    match grammar::request_uri(uri) {
        Err(bad) => Some(Defect::new(
            Class::Syntax,
            format!("Request-URI '{}': {bad}", shown(uri)),
        )),
        Ok(RequestUri::Sip {
            headers: Some(headers),
        }) => Some(Defect::new(
            Class::Syntax,
            format!(
                "Request-URI '{}' carries headers ('{}'), which a Request-URI may not",
                shown(uri),
                shown(headers)
            ),
        )),
        Ok(RequestUri::Other { scheme }) => Some(Defect::new(
            Class::Scheme,
            format!(
                "Request-URI scheme '{}' is not supported (sip, sips, tel)",
                shown(scheme)
            ),
        )),
        Ok(RequestUri::Sip { headers: None } | RequestUri::Tel) => None,
    }
}

/// Every header field this module knows the grammar of, by that grammar.
fn check_fields(p: &Parsed<'_>, method: Option<&[u8]>) -> Vec<Defect> {
    let mut found = Vec::new();
    for f in &p.fields {
        let Some(known) = f.known else { continue };
        let v: &[u8] = &f.value;
        let result = match known {
            Header::Via => grammar::via(v),
            Header::From | Header::To => grammar::from_to(v),
            Header::Contact => grammar::contact(v),
            Header::Route | Header::RecordRoute => grammar::route(v),
            Header::CallId => grammar::call_id(v),
            Header::CSeq => {
                found.extend(check_cseq(v, f.line, method).err());
                continue;
            }
            Header::MaxForwards => grammar::max_forwards(v),
            Header::Expires => grammar::expires(v),
            Header::ContentType => {
                if let Err(why) = check_media_type(v) {
                    found.push(Defect::new(
                        Class::Syntax,
                        format!("Content-Type on line {}: {why}", f.line),
                    ));
                }
                continue;
            }
            _ => Ok(()),
        };
        if let Err(bad) = result {
            found.push(Defect::new(
                Class::Syntax,
                format!("{} on line {}: {bad}", known.canonical(), f.line),
            ));
        }
    }
    found
}

/// Header fields that may appear once only.
fn check_singletons(p: &Parsed<'_>) -> Vec<Defect> {
    [
        Header::From,
        Header::To,
        Header::CallId,
        Header::CSeq,
        Header::MaxForwards,
        Header::ContentType,
    ]
    .into_iter()
    .filter_map(|h| {
        let n = p.all(h).count();
        (n > 1).then(|| {
            Defect::new(
                Class::Semantic,
                format!("{n} {} header fields where one is allowed", h.canonical()),
            )
        })
    })
    .collect()
}

/// `CSeq` by its grammar, then its method against the request's (`request`
/// is `None` for a response).
fn check_cseq(v: &[u8], line: usize, request: Option<&[u8]>) -> Result<(), Defect> {
    let method = grammar::cseq(v)
        .map_err(|bad| Defect::new(Class::Syntax, format!("CSeq on line {line}: {bad}")))?;
    match request {
        Some(m) if m != method => Err(Defect::new(
            Class::Semantic,
            format!(
                "CSeq method '{}' does not match the request method '{}'",
                shown(method),
                shown(m)
            ),
        )),
        _ => Ok(()),
    }
}

fn check_media_type(v: &[u8]) -> Result<(), String> {
    let mt = media_type(v);
    let mut parts = mt.split(|&b| b == b'/');
    let ok = matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(t), Some(s), None)
            if !t.is_empty() && !s.is_empty()
                && t.iter().chain(s).all(|&b| is_token_char(b))
    );
    if ok {
        Ok(())
    } else {
        Err(format!("'{}' is not type/subtype", shown(v)))
    }
}

/// The `type/subtype` part of a media type, trimmed, parameters removed.
fn media_type(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    trim_lws(&v[..end])
}

fn check_require(p: &Parsed<'_>, policy: &Policy) -> Vec<Defect> {
    let unsupported: Vec<String> = p
        .all(Header::Require)
        .flat_map(|f| {
            f.value
                .split(|&b| b == b',')
                .map(|t| String::from_utf8_lossy(trim_lws(t)).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .filter(|t| !policy.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect();
    if unsupported.is_empty() {
        return Vec::new();
    }
    let mut d = Defect::new(
        Class::Extension,
        format!(
            "Require names unsupported option tags: {}",
            unsupported.join(", ")
        ),
    );
    d.unsupported = unsupported;
    vec![d]
}

fn check_body_type(p: &Parsed<'_>, policy: &Policy, method: &[u8]) -> Vec<Defect> {
    if p.body.is_empty() {
        return Vec::new();
    }
    let Some(ct) = p.first(Header::ContentType) else {
        return Vec::new(); // a grammar defect already
    };
    let session = matches!(method, b"INVITE" | b"UPDATE" | b"PRACK");
    if !session || policy.session_body_types.is_empty() {
        return Vec::new();
    }
    let mt = media_type(&ct.value);
    if policy
        .session_body_types
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(mt))
    {
        return Vec::new();
    }
    vec![Defect::new(
        Class::MediaType,
        format!(
            "body type '{}' is not accepted in {}",
            shown(mt),
            shown(method)
        ),
    )]
}

fn check_accept(p: &Parsed<'_>) -> Vec<Defect> {
    let ranges: Vec<&[u8]> = p
        .all(Header::Accept)
        .flat_map(|f| f.value.split(|&b| b == b',').map(media_type))
        .filter(|r| !r.is_empty())
        .collect();
    if ranges.is_empty() {
        return Vec::new();
    }
    let sdp_ok = ranges.iter().any(|r| {
        [&b"application/sdp"[..], b"application/*", b"*/*"]
            .iter()
            .any(|ok| r.eq_ignore_ascii_case(ok))
    });
    if sdp_ok {
        return Vec::new();
    }
    let listed: Vec<String> = ranges.iter().map(|r| shown(r)).collect();
    vec![Defect::new(
        Class::Accept,
        format!(
            "Accept '{}' excludes application/sdp, the only answer this UA can give",
            listed.join(", ")
        ),
    )]
}

/// The `tag` parameter of a From/To value, if it has one outside quotes and
/// `<>` (used for replies and repairs; the value need not be valid).
pub(crate) fn tag_of(v: &[u8]) -> Option<&[u8]> {
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if escaped {
            escaped = false;
        } else if in_quotes {
            match b {
                b'\\' => escaped = true,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_quotes = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b';' if !in_angle => {
                    let mut c = Cur::new(&v[i + 1..]);
                    c.sws();
                    let name = c.take(is_token_char);
                    c.sws();
                    if name.eq_ignore_ascii_case(b"tag") && c.peek() == Some(b'=') {
                        c.i += 1;
                        c.sws();
                        let value = c.take(is_token_char);
                        return (!value.is_empty()).then_some(value);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}
