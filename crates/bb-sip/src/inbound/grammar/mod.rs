//! RFC 3261 section 25 grammar for the header fields the guard refuses with
//! 400 when they do not parse: `Via`, `From`, `To`, `Contact` (and `Route`,
//! `Record-Route`), `Call-ID`, `CSeq`, `Max-Forwards`, `Expires`, and the
//! Request-URI ([`uri`]). `Content-Length` is read where the body is framed
//! (`scan`), the Request-Line's spacing and SIP-Version in `rules`.
//!
//! Each validator takes a value as `scan` hands it over (folding undone,
//! leading and trailing whitespace removed, so `LWS` is SP or HTAB) and
//! returns a [`Bad`] naming the text where the grammar stopped and what it
//! expects there. Callers put the header name and line in front.
//!
//! # What is tolerated, and why
//!
//! Only what RFC 4475 (and RFC 5118 for IPv6) calls valid or tolerable:
//!
//! - any `SWS` around `/ ; = , :` and inside `sent-protocol`, leading zeros
//!   in numbers, compact and odd-case names (`wsinv`, RFC 4475 3.1.1.1);
//! - `%HH` escapes wherever a URI allows them, and `%` as a token character
//!   (`esc01`, `escnull`, `esc02`);
//! - no whitespace between an unquoted display name and `<` (`lwsdisp`, a
//!   known bug in RFC 3261's ABNF);
//! - values of any length (`longreq`), unknown transports and parameters
//!   (`transports`), non-SIP URIs in From, To and Contact (`unksm2`);
//! - a Via `received` IPv6 address with or without brackets (RFC 5118
//!   section 4.5).
//!
//! One project choice goes beyond RFC 4475: octets above 0x7F inside a
//! quoted string pass here even when they are not UTF-8, because `repair`
//! re-encodes such a display name as Latin-1 rather than refuse the call.
//!
//! Where the ABNF's `generic-param` would swallow a parameter that has its
//! own rule (`tag`, `branch`, `received`, `maddr`, `ttl`, `q`, `expires`),
//! the parameter must follow its own rule: `tag="x"` is refused, as the
//! simulator's stack refuses it.

mod uri;

#[cfg(test)]
mod tests;

use std::fmt;

pub(crate) use uri::{RequestUri, request_uri};

use super::scan::{Decimal, is_lws, is_token_char, parse_decimal, shown};

/// CSeq numbers must be below 2**31 (RFC 3261 section 8.1.1.5).
const CSEQ_LIMIT: u64 = 1 << 31;

/// Where a value stops following the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    /// The offending text (escaped, at most 60 characters), empty at the end.
    found: String,
    /// What the grammar expects there.
    expected: String,
}

impl Bad {
    pub(crate) fn new(found: &[u8], expected: impl Into<String>) -> Bad {
        Bad {
            found: shown(found),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found.is_empty() {
            write!(f, "expected {}, found nothing", self.expected)
        } else {
            write!(f, "expected {}, found '{}'", self.expected, self.found)
        }
    }
}

/// A read position in a value.
pub(crate) struct Cur<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Cur { s, i: 0 }
    }
    fn at(s: &'a [u8], i: usize) -> Self {
        Cur { s, i }
    }
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn rest(&self) -> &'a [u8] {
        self.s.get(self.i..).unwrap_or(&[])
    }
    /// Skips SP and HTAB; says whether there were any.
    pub(crate) fn sws(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_lws) {
            self.i += 1;
        }
        self.i > start
    }
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.i += 1;
        }
        hit
    }
    pub(crate) fn take(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// `SWS b SWS` (RFC 3261's SLASH, SEMI, EQUAL, COMMA, COLON); the cursor
    /// does not move when `b` is not there.
    fn sep(&mut self, b: u8) -> bool {
        let start = self.i;
        self.sws();
        if self.eat(b) {
            self.sws();
            true
        } else {
            self.i = start;
            false
        }
    }
    fn bad(&self, expected: impl Into<String>) -> Bad {
        Bad::new(self.rest(), expected)
    }
    fn token(&mut self, expected: &str) -> Result<&'a [u8], Bad> {
        let t = self.take(is_token_char);
        if t.is_empty() {
            Err(self.bad(expected))
        } else {
            Ok(t)
        }
    }
}

/// `unreserved = alphanum / mark`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// `word` characters (Call-ID).
fn is_word_char(b: u8) -> bool {
    is_token_char(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

// ---------------------------------------------------------------------------
// The header fields.

/// `Via = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)`.
pub(crate) fn via(v: &[u8]) -> Result<(), Bad> {
    list(v, "a Via value (SIP/2.0/transport sent-by)", via_parm)
}

/// `From` and `To`: `( name-addr / addr-spec ) *( SEMI from-param )`, where
/// `tag-param = "tag" EQUAL token`.
pub(crate) fn from_to(v: &[u8]) -> Result<(), Bad> {
    let mut c = Cur::new(v);
    if c.at_end() {
        return Err(c.bad("a name-addr or addr-spec"));
    }
    address(&mut c, false)?;
    params(&mut c, false, |name| {
        if name.eq_ignore_ascii_case(b"tag") {
            Takes::Token
        } else {
            Takes::Generic
        }
    })
}

/// `Contact = ("Contact" / "m") HCOLON ( STAR / (contact-param *(COMMA
/// contact-param)))`, with `q` a qvalue and `expires` delta-seconds.
pub(crate) fn contact(v: &[u8]) -> Result<(), Bad> {
    if v == b"*" {
        return Ok(());
    }
    list(v, "a Contact value (name-addr or addr-spec)", |c| {
        address(c, true)?;
        params(c, true, |name| {
            if name.eq_ignore_ascii_case(b"q") {
                Takes::QValue
            } else if name.eq_ignore_ascii_case(b"expires") {
                Takes::DeltaSeconds
            } else {
                Takes::Generic
            }
        })
    })
}

/// `Route` and `Record-Route`: a list of addresses with generic parameters.
/// RFC 3261 wants `name-addr`; an `addr-spec` passes, as it did before this
/// module (nothing here routes by it).
pub(crate) fn route(v: &[u8]) -> Result<(), Bad> {
    list(v, "a route value (<URI>)", |c| {
        address(c, true)?;
        params(c, true, |_| Takes::Generic)
    })
}

/// `callid = word [ "@" word ]`.
pub(crate) fn call_id(v: &[u8]) -> Result<(), Bad> {
    const EXPECTED: &str = "Call-ID characters (word [\"@\" word])";
    let mut c = Cur::new(v);
    if c.take(is_word_char).is_empty() {
        return Err(c.bad(EXPECTED));
    }
    if c.eat(b'@') && c.take(is_word_char).is_empty() {
        return Err(c.bad(format!("{EXPECTED} after '@'")));
    }
    if c.at_end() {
        Ok(())
    } else {
        Err(c.bad(EXPECTED))
    }
}

/// `CSeq = "CSeq" HCOLON 1*DIGIT LWS Method`, the number below 2**31.
/// Returns the method.
pub(crate) fn cseq(v: &[u8]) -> Result<&[u8], Bad> {
    let mut c = Cur::new(v);
    let number = c.take(|b| b.is_ascii_digit());
    if number.is_empty() {
        return Err(c.bad("a sequence number (1*DIGIT)"));
    }
    if !matches!(parse_decimal(number), Decimal::Value(n) if n < CSEQ_LIMIT) {
        return Err(Bad::new(
            number,
            "a sequence number below 2**31 (RFC 3261 section 8.1.1.5)",
        ));
    }
    if !c.sws() {
        return Err(c.bad("whitespace and a method after the sequence number"));
    }
    let method = c.token("a method (token) after the sequence number")?;
    if c.at_end() {
        Ok(method)
    } else {
        Err(c.bad("the end of the value after the method"))
    }
}

/// `Max-Forwards = "Max-Forwards" HCOLON 1*DIGIT`, 0 to 255 (section 20.22).
pub(crate) fn max_forwards(v: &[u8]) -> Result<(), Bad> {
    bounded(v, 255, "an integer from 0 to 255 (1*DIGIT)")
}

/// `Expires = "Expires" HCOLON delta-seconds`, 0 to 2**32-1 (section 20.19).
pub(crate) fn expires(v: &[u8]) -> Result<(), Bad> {
    bounded(
        v,
        u64::from(u32::MAX),
        "delta-seconds from 0 to 4294967295 (1*DIGIT)",
    )
}

fn bounded(v: &[u8], max: u64, expected: &str) -> Result<(), Bad> {
    match parse_decimal(v) {
        Decimal::Value(n) if n <= max => Ok(()),
        _ => Err(Bad::new(v, expected)),
    }
}

// ---------------------------------------------------------------------------
// The pieces.

/// `1#element`: one or more elements separated by `COMMA`, none empty.
fn list(v: &[u8], what: &str, element: fn(&mut Cur<'_>) -> Result<(), Bad>) -> Result<(), Bad> {
    let mut c = Cur::new(v);
    loop {
        c.sws();
        if c.at_end() || c.peek() == Some(b',') {
            return Err(c.bad(what));
        }
        element(&mut c)?;
        c.sws();
        if c.at_end() {
            return Ok(());
        }
        if !c.eat(b',') {
            return Err(c.bad("',' or the end of the value"));
        }
    }
}

/// `sent-protocol LWS sent-by`, then `*( SEMI via-params )`.
fn via_parm(c: &mut Cur<'_>) -> Result<(), Bad> {
    let start = c.i;
    let name = c.token("a protocol name (SIP)")?;
    if !c.sep(b'/') {
        return Err(c.bad("'/' after the protocol name"));
    }
    let version = c.token("a protocol version (2.0)")?;
    if !c.sep(b'/') {
        return Err(c.bad("'/' after the protocol version"));
    }
    c.token("a transport (UDP, TCP, TLS, SCTP or another token)")?;
    if !name.eq_ignore_ascii_case(b"SIP") || version != b"2.0" {
        return Err(Bad::new(
            &c.s[start..c.i],
            "SIP/2.0/<transport> (RFC 3261 section 8.1.1.7)",
        ));
    }
    if !c.sws() {
        return Err(c.bad("whitespace and a sent-by host after the transport"));
    }
    uri::host(c)?;
    if c.sep(b':') {
        uri::port(c)?;
    }
    params(c, true, |name| {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"branch") {
            Takes::Token
        } else if is(b"received") {
            Takes::Address
        } else if is(b"maddr") {
            Takes::Host
        } else if is(b"ttl") {
            Takes::Ttl
        } else {
            Takes::Generic
        }
    })
}

/// What value a header parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `generic-param`: the value is optional and is a token, a host or a
    /// quoted string.
    Generic,
    /// `tag`, `branch`: `EQUAL token`.
    Token,
    /// `maddr`: `EQUAL host`.
    Host,
    /// `ttl`: `EQUAL 1*3DIGIT`, 0 to 255.
    Ttl,
    /// Via `received`: `EQUAL (IPv4address / IPv6address)`; `[IPv6]` too
    /// (RFC 5118 section 4.5).
    Address,
    /// Contact `q`: `qvalue`.
    QValue,
    /// Contact `expires`: delta-seconds, 0 to 2**32-1.
    DeltaSeconds,
}

/// `*( SEMI param )`, stopping at the end or, in a list, before `,`.
fn params(c: &mut Cur<'_>, list: bool, rule: fn(&[u8]) -> Takes) -> Result<(), Bad> {
    loop {
        let start = c.i;
        c.sws();
        match c.peek() {
            None => return Ok(()),
            Some(b',') if list => {
                c.i = start;
                return Ok(());
            }
            Some(b';') => c.i += 1,
            Some(_) if list => return Err(c.bad("';', ',' or the end of the value")),
            Some(_) => return Err(c.bad("';' or the end of the value")),
        }
        c.sws();
        let name = c.token("a parameter name (token) after ';'")?;
        let kind = rule(name);
        if c.sep(b'=') {
            param_value(c, name, kind)?;
        } else if kind != Takes::Generic {
            return Err(c.bad(format!("'=' and a value after '{}'", shown(name))));
        }
    }
}

fn param_value(c: &mut Cur<'_>, name: &[u8], kind: Takes) -> Result<(), Bad> {
    let start = c.i;
    let what = |w: &str| format!("{w} as the value of '{}'", shown(name));
    match kind {
        Takes::Generic => match c.peek() {
            Some(b'"') => quoted_string(c).map(|_| ()),
            Some(b'[') => uri::host(c),
            _ => c.token(&what("a token, host or quoted string")).map(|_| ()),
        },
        Takes::Token => c.token(&what("a token")).map(|_| ()),
        Takes::Host => uri::host(c),
        Takes::Ttl => {
            let digits = c.take(|b| b.is_ascii_digit());
            let ok = (1..=3).contains(&digits.len())
                && matches!(parse_decimal(digits), Decimal::Value(n) if n <= 255);
            if ok {
                Ok(())
            } else {
                c.i = start;
                Err(c.bad(what("an integer from 0 to 255")))
            }
        }
        Takes::Address => {
            if c.peek() == Some(b'[') {
                return uri::host(c);
            }
            let a = c.take(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if uri::is_ipv4(a) || (a.contains(&b':') && uri::is_ipv6(a)) {
                Ok(())
            } else {
                c.i = start;
                Err(c.bad(what("an IPv4 or IPv6 address")))
            }
        }
        Takes::QValue => {
            let q = c.take(|b| b.is_ascii_digit() || b == b'.');
            if is_qvalue(q) {
                Ok(())
            } else {
                c.i = start;
                Err(c.bad(what("a qvalue from 0 to 1 with at most 3 decimals")))
            }
        }
        Takes::DeltaSeconds => {
            let digits = c.take(|b| b.is_ascii_digit());
            if matches!(parse_decimal(digits), Decimal::Value(n) if n <= u64::from(u32::MAX)) {
                Ok(())
            } else {
                c.i = start;
                Err(c.bad(what("delta-seconds from 0 to 4294967295")))
            }
        }
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn is_qvalue(q: &[u8]) -> bool {
    let (whole, frac) = match q.iter().position(|&b| b == b'.') {
        Some(dot) => (&q[..dot], &q[dot + 1..]),
        None => (q, &[][..]),
    };
    frac.len() <= 3
        && frac.iter().all(u8::is_ascii_digit)
        && match whole {
            b"0" => true,
            b"1" => frac.iter().all(|&b| b == b'0'),
            _ => false,
        }
}

/// `name-addr / addr-spec` at the cursor. An addr-spec ends at `;` (header
/// parameters follow) and, in a list, at `,`.
fn address(c: &mut Cur<'_>, list: bool) -> Result<(), Bad> {
    c.sws();
    if c.peek() == Some(b'"') {
        quoted_string(c)?;
        c.sws();
        if c.peek() != Some(b'<') {
            return Err(c.bad("'<' after the quoted display name"));
        }
        return angle_uri(c);
    }
    let rest = c.rest();
    let lt = rest.iter().position(|&b| b == b'<');
    let end = rest
        .iter()
        .position(|&b| b == b';' || (list && b == b','))
        .unwrap_or(rest.len());
    if let Some(lt) = lt.filter(|&lt| lt < end) {
        // display-name = *(token LWS); RFC 4475 lwsdisp: no LWS before '<'.
        let display = &rest[..lt];
        if !display.iter().all(|&b| is_token_char(b) || is_lws(b)) {
            return Err(Bad::new(
                display,
                "a display name of tokens, or a quoted string, before '<'",
            ));
        }
        c.i += lt;
        return angle_uri(c);
    }
    let uri = trim_end(&rest[..end]);
    c.i += end;
    if let Some(&b) = uri
        .iter()
        .find(|&&b| is_lws(b) || matches!(b, b'?' | b',' | b'>'))
    {
        let what = if is_lws(b) {
            "whitespace".to_string()
        } else {
            format!("'{}'", char::from(b))
        };
        return Err(Bad::new(
            uri,
            format!("a URI without {what} (one with it must be enclosed in '<>')"),
        ));
    }
    uri::addr_spec(uri)
}

/// `LAQUOT addr-spec RAQUOT` at the cursor (on the '<').
fn angle_uri(c: &mut Cur<'_>) -> Result<(), Bad> {
    let rest = c.rest();
    let Some(gt) = rest.iter().position(|&b| b == b'>') else {
        return Err(c.bad("a URI closed by '>'"));
    };
    let inner = &rest[1..gt];
    if inner.iter().any(|&b| is_lws(b)) {
        return Err(Bad::new(inner, "a URI without whitespace inside '<>'"));
    }
    uri::addr_spec(inner)?;
    c.i += gt + 1;
    Ok(())
}

/// `quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE` at the
/// cursor (on the '"'). Control characters must be escaped (`quoted-pair`
/// excludes CR and LF); octets above 0x7F pass (see the module docs).
pub(crate) fn quoted_string<'a>(c: &mut Cur<'a>) -> Result<&'a [u8], Bad> {
    let start = c.i;
    c.i += 1;
    loop {
        let at = c.i;
        match c.peek() {
            None => {
                return Err(Bad::new(
                    &c.s[start..],
                    "a closing '\"' for the quoted string",
                ));
            }
            Some(b'"') => {
                c.i += 1;
                return Ok(&c.s[start..c.i]);
            }
            Some(b'\\') => {
                c.i += 1;
                match c.peek() {
                    Some(b) if b <= 0x7F && b != b'\r' && b != b'\n' => c.i += 1,
                    _ => {
                        c.i = at;
                        return Err(
                            c.bad("'\\' followed by an ASCII character other than CR or LF")
                        );
                    }
                }
            }
            Some(b) if is_lws(b) || b >= 0x80 || (0x21..=0x7E).contains(&b) => c.i += 1,
            Some(_) => {
                return Err(c.bad(
                    "text without control characters inside the quoted string (escape them with '\\')",
                ));
            }
        }
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(0, |i| i + 1);
    &s[..end]
}
