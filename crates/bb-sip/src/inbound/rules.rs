//! The checks: Request-Line and Request-URI, the header fields a UA or the
//! stack interprets (Via, From, To, Contact, Route, Call-ID, CSeq,
//! Max-Forwards, Content-Type, Require, Accept) and the Status-Line of a
//! response. Each finding becomes a [`Defect`] on the [`Parsed`] message.

use std::net::Ipv6Addr;

use super::Policy;
use super::scan::{
    Class, Decimal, Defect, Header, Parsed, StartLine, is_lws, is_token_char, parse_decimal, shown,
    split_cseq, trim_lws,
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

/// CSeq numbers must be below 2**31 (RFC 3261 section 8.1.1.5).
const CSEQ_LIMIT: u64 = 1 << 31;

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
    if !KNOWN_METHODS.contains(&method) {
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
            .filter_map(|f| check_cseq(&f.value, None).err()),
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
    let Some(scheme) = scheme_of(uri) else {
        return Some(Defect::new(
            Class::Syntax,
            format!("Request-URI '{}' has no scheme", shown(uri)),
        ));
    };
    let rest = &uri[scheme.len() + 1..];
    if scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips") {
        check_sip_uri(uri, rest)
    } else if scheme.eq_ignore_ascii_case(b"tel") {
        check_uri_chars(uri, rest)
    } else {
        Some(Defect::new(
            Class::Scheme,
            format!(
                "Request-URI scheme '{}' is not supported (sip, sips, tel)",
                shown(scheme)
            ),
        ))
    }
}

/// `scheme ":"` at the start of a URI: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
pub(crate) fn scheme_of(uri: &[u8]) -> Option<&[u8]> {
    let colon = uri.iter().position(|&b| b == b':')?;
    let scheme = &uri[..colon];
    let ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then_some(scheme)
}

fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            // unreserved marks
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            // reserved
            | b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
            // escapes and IPv6 references
            | b'%' | b'[' | b']'
        )
}

fn check_uri_chars(uri: &[u8], rest: &[u8]) -> Option<Defect> {
    let offset = uri.len() - rest.len();
    for (i, &b) in rest.iter().enumerate() {
        if !is_uri_char(b) {
            return Some(Defect::new(
                Class::Syntax,
                format!(
                    "Request-URI '{}' has '{}' at column {}, which must be %-escaped",
                    shown(uri),
                    shown(&[b]),
                    offset + i + 1
                ),
            ));
        }
        if b == b'%' {
            let hex = rest.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return Some(Defect::new(
                    Class::Syntax,
                    format!(
                        "Request-URI '{}' has a '%' at column {} not followed by two hex digits",
                        shown(uri),
                        offset + i + 1
                    ),
                ));
            }
        }
    }
    if rest.is_empty() {
        return Some(Defect::new(
            Class::Syntax,
            format!("Request-URI '{}' is empty after its scheme", shown(uri)),
        ));
    }
    None
}

fn check_sip_uri(uri: &[u8], rest: &[u8]) -> Option<Defect> {
    if let Some(d) = check_uri_chars(uri, rest) {
        return Some(d);
    }
    // userinfo cannot hold an unescaped '@', headers cannot either: the last
    // '@' ends the userinfo.
    let hostpart = match rest.iter().rposition(|&b| b == b'@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    if let Some(q) = hostpart.iter().position(|&b| b == b'?') {
        return Some(Defect::new(
            Class::Syntax,
            format!(
                "Request-URI '{}' carries headers ('{}'), which a Request-URI may not",
                shown(uri),
                shown(&hostpart[q..])
            ),
        ));
    }
    let end = hostpart
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(hostpart.len());
    check_hostport(&hostpart[..end]).map(|why| {
        Defect::new(
            Class::Syntax,
            format!("Request-URI '{}': {why}", shown(uri)),
        )
    })
}

/// `host [":" port]`, host being a name, an IPv4 address or `[IPv6]`.
fn check_hostport(hp: &[u8]) -> Option<String> {
    let (host, port) = if hp.first() == Some(&b'[') {
        let Some(close) = hp.iter().position(|&b| b == b']') else {
            return Some(format!("IPv6 reference '{}' has no ']'", shown(hp)));
        };
        let inner = &hp[1..close];
        let valid = std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .is_some();
        if !valid {
            return Some(format!(
                "'{}' is not a valid IPv6 reference",
                shown(&hp[..=close])
            ));
        }
        match &hp[close + 1..] {
            [] => (&hp[..=close], None),
            [b':', port @ ..] => (&hp[..=close], Some(port)),
            other => {
                return Some(format!(
                    "'{}' follows the IPv6 reference where ':port' belongs",
                    shown(other)
                ));
            }
        }
    } else {
        match hp.iter().position(|&b| b == b':') {
            Some(c) => (&hp[..c], Some(&hp[c + 1..])),
            None => (hp, None),
        }
    };
    if host.is_empty() {
        return Some("host is empty".into());
    }
    // '_' is not in RFC 1123 host names but is common in container names.
    if host.first() != Some(&b'[')
        && !host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Some(format!(
            "host '{}' is not a host name or address",
            shown(host)
        ));
    }
    if let Some(port) = port {
        let ok = (1..=5).contains(&port.len())
            && matches!(parse_decimal(port), Decimal::Value(n) if n <= 65_535);
        if !ok {
            return Some(format!(
                "port '{}' is not a number up to 65535",
                shown(port)
            ));
        }
    }
    None
}

fn check_fields(p: &Parsed<'_>, method: Option<&[u8]>) -> Vec<Defect> {
    let mut found = Vec::new();
    for f in &p.fields {
        let Some(known) = f.known else { continue };
        let name = known.canonical();
        let v: &[u8] = &f.value;
        let result = match known {
            Header::Via => check_via(v),
            Header::From | Header::To => check_address_list(v, false),
            Header::Contact | Header::Route | Header::RecordRoute => {
                if known == Header::Contact && v == b"*" {
                    Ok(())
                } else {
                    check_address_list(v, true)
                }
            }
            Header::CallId => check_call_id(v),
            Header::CSeq => match check_cseq(v, method) {
                Err(d) => {
                    found.push(d);
                    continue;
                }
                Ok(()) => Ok(()),
            },
            Header::MaxForwards => match parse_decimal(v) {
                Decimal::Value(n) if n <= 255 => Ok(()),
                Decimal::Value(_) | Decimal::TooLarge => {
                    Err(format!("value {} is above 255", shown(v)))
                }
                Decimal::NotANumber => Err(format!("'{}' is not a number", shown(v))),
            },
            Header::ContentType => check_media_type(v),
            _ => Ok(()),
        };
        if let Err(why) = result {
            found.push(Defect::new(
                Class::Syntax,
                format!("{name} on line {}: {why}", f.line),
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

/// `CSeq: 1*DIGIT LWS Method`, number below 2**31, method equal to the
/// request's (`request` is `None` for a response).
fn check_cseq(v: &[u8], request: Option<&[u8]>) -> Result<(), Defect> {
    let (num, method) = split_cseq(v);
    let syntax = |why: String| Defect::new(Class::Syntax, format!("CSeq '{}' {why}", shown(v)));
    if method.is_empty() || !method.iter().all(|&b| is_token_char(b)) {
        return Err(syntax("is not '<number> <method>'".into()));
    }
    match parse_decimal(num) {
        Decimal::Value(n) if n < CSEQ_LIMIT => {}
        Decimal::Value(_) | Decimal::TooLarge => {
            return Err(Defect::new(
                Class::Syntax,
                format!("CSeq number {} is not below 2**31", shown(num)),
            ));
        }
        Decimal::NotANumber => return Err(syntax("does not start with a number".into())),
    }
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

/// Call-ID: one run of visible ASCII. RFC 3261 narrows it to `word ["@"
/// word]`, but nothing here interprets a Call-ID, and real clients send `=`
/// (base64 padding) or two `@`s; only what cannot be copied back intact is
/// refused.
fn check_call_id(v: &[u8]) -> Result<(), String> {
    match v.iter().position(|&b| !b.is_ascii_graphic()) {
        None if !v.is_empty() => Ok(()),
        None => Err("is empty".into()),
        Some(i) => Err(format!(
            "'{}' has {} at column {}",
            shown(v),
            if v[i].is_ascii_whitespace() {
                "whitespace".to_string()
            } else {
                format!("byte 0x{:02X}", v[i])
            },
            i + 1
        )),
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

// ---------------------------------------------------------------------------
// name-addr / addr-spec and Via, on a byte cursor.

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cursor { s, i: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn rest(&self) -> &'a [u8] {
        self.s.get(self.i..).unwrap_or(&[])
    }
    fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// A quoted-string starting at the cursor (which is on the '"').
    fn quoted(&mut self) -> Result<&'a [u8], String> {
        let start = self.i;
        self.i += 1;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'"' => return Ok(&self.s[start..self.i]),
                _ => {}
            }
        }
        Err("has an unterminated quoted string".into())
    }
}

/// One or more (`list`) name-addr / addr-spec values with parameters.
fn check_address_list(v: &[u8], list: bool) -> Result<(), String> {
    let mut c = Cursor::new(v);
    loop {
        c.skip_lws();
        if c.at_end() || c.peek() == Some(b',') {
            return Err(if list {
                "has an empty value between commas".into()
            } else {
                "is empty".into()
            });
        }
        address(&mut c, list)?;
        params(&mut c, list)?;
        c.skip_lws();
        match c.peek() {
            None => return Ok(()),
            Some(b',') if list => c.i += 1,
            Some(_) => {
                return Err(format!(
                    "unexpected '{}' after the address",
                    shown(c.rest())
                ));
            }
        }
    }
}

fn address(c: &mut Cursor<'_>, list: bool) -> Result<(), String> {
    if c.peek() == Some(b'"') {
        c.quoted()?;
        c.skip_lws();
        if c.peek() != Some(b'<') {
            return Err("quoted display name is not followed by an angle bracket".into());
        }
        return angle_uri(c);
    }
    let rest = c.rest();
    let lt = rest.iter().position(|&b| b == b'<');
    let semi = rest.iter().position(|&b| b == b';');
    let comma = rest.iter().position(|&b| list && b == b',');
    match lt {
        Some(lt) if semi.is_none_or(|s| lt < s) && comma.is_none_or(|s| lt < s) => {
            let display = trim_lws(&rest[..lt]);
            if !display.iter().all(|&b| is_token_char(b) || is_lws(b)) {
                return Err(format!(
                    "display name '{}' is neither tokens nor a quoted string",
                    shown(display)
                ));
            }
            c.i += lt;
            angle_uri(c)
        }
        _ => {
            // addr-spec: the URI ends at ';' (header parameters follow) or,
            // in a list, at ','.
            let uri = c.take_while(|b| b != b';' && !(list && b == b','));
            let uri_t = trim_lws(uri);
            if uri_t.iter().any(|&b| is_lws(b)) {
                return Err(format!(
                    "'{}' has whitespace but no angle brackets",
                    shown(uri_t)
                ));
            }
            if let Some(&b) = uri_t.iter().find(|&&b| matches!(b, b'?' | b',' | b'>')) {
                return Err(format!(
                    "URI '{}' contains '{}' and must be enclosed in angle brackets",
                    shown(uri_t),
                    char::from(b)
                ));
            }
            if scheme_of(uri_t).is_none() {
                return Err(format!("URI '{}' has no scheme", shown(uri_t)));
            }
            Ok(())
        }
    }
}

/// `<` addr-spec `>` at the cursor.
fn angle_uri(c: &mut Cursor<'_>) -> Result<(), String> {
    let rest = c.rest();
    let Some(gt) = rest.iter().position(|&b| b == b'>') else {
        return Err("has an opening angle bracket without a closing one".into());
    };
    let inner = &rest[1..gt];
    if inner.iter().any(|&b| is_lws(b)) {
        return Err(format!("has whitespace inside '<{}>'", shown(inner)));
    }
    if scheme_of(inner).is_none() {
        return Err(format!("URI '{}' has no scheme", shown(inner)));
    }
    c.i += gt + 1;
    Ok(())
}

/// `*( SEMI generic-param )`, stopping at the end or (in a list) at ','.
fn params(c: &mut Cursor<'_>, list: bool) -> Result<(), String> {
    loop {
        c.skip_lws();
        match c.peek() {
            None => return Ok(()),
            Some(b',') if list => return Ok(()),
            Some(b';') => c.i += 1,
            Some(_) => {
                return Err(format!(
                    "unexpected '{}' where ';' or the end belongs",
                    shown(c.rest())
                ));
            }
        }
        c.skip_lws();
        let name = c.take_while(is_token_char);
        if name.is_empty() {
            return Err("has an empty parameter (';' followed by no name)".into());
        }
        c.skip_lws();
        if c.peek() == Some(b'=') {
            c.i += 1;
            c.skip_lws();
            let value = if c.peek() == Some(b'"') {
                c.quoted()?
            } else {
                c.take_while(|b| is_token_char(b) || matches!(b, b':' | b'[' | b']'))
            };
            if value.is_empty() {
                return Err(format!("parameter '{}' has '=' but no value", shown(name)));
            }
        }
    }
}

/// `Via: 1#( sent-protocol LWS sent-by *( SEMI via-params ) )`, with LWS
/// allowed around '/' (RFC 3261 `SLASH`).
fn check_via(v: &[u8]) -> Result<(), String> {
    let mut c = Cursor::new(v);
    loop {
        c.skip_lws();
        if c.at_end() || c.peek() == Some(b',') {
            return Err("has an empty value between commas".into());
        }
        for (n, part) in ["protocol name", "protocol version", "transport"]
            .iter()
            .enumerate()
        {
            if n > 0 {
                c.skip_lws();
                if c.peek() != Some(b'/') {
                    return Err(format!("sent-protocol has no '/' before the {part}"));
                }
                c.i += 1;
                c.skip_lws();
            }
            if c.take_while(is_token_char).is_empty() {
                return Err(format!("sent-protocol has no {part}"));
            }
        }
        if !c.peek().is_some_and(is_lws) {
            return Err("sent-protocol is not followed by whitespace and sent-by".into());
        }
        c.skip_lws();
        let sent_by = c.take_while(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']')
        });
        if sent_by.is_empty() {
            return Err("has no sent-by host".into());
        }
        if let Some(why) = check_hostport(sent_by) {
            return Err(format!("sent-by: {why}"));
        }
        params(&mut c, true)?;
        c.skip_lws();
        match c.peek() {
            None => return Ok(()),
            Some(b',') => c.i += 1,
            Some(_) => {
                return Err(format!("unexpected '{}' after the value", shown(c.rest())));
            }
        }
    }
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
                    let mut c = Cursor::new(&v[i + 1..]);
                    c.skip_lws();
                    let name = c.take_while(is_token_char);
                    c.skip_lws();
                    if name.eq_ignore_ascii_case(b"tag") && c.peek() == Some(b'=') {
                        c.i += 1;
                        c.skip_lws();
                        let value = c.take_while(is_token_char);
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
