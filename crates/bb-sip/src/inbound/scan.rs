//! The lenient byte-level parser: start line, unfolded header fields, body
//! framed by Content-Length, and the defects found on the way.
//!
//! Nothing here assumes UTF-8: header values are byte slices, and the body is
//! exactly Content-Length octets (or the rest of the datagram when there is no
//! Content-Length, as RFC 3261 section 18.3 allows over UDP).

use std::borrow::Cow;
use std::fmt;

/// The largest datagram looked at; larger ones are dropped unread.
pub const MAX_DATAGRAM: usize = 65_535;

/// The most header fields read from one message; more is a defect.
pub const MAX_HEADER_FIELDS: usize = 256;

/// At most this many defects are kept (the best-ranked ones win a place).
const MAX_DEFECTS: usize = 16;

/// Request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request (Request-Line first).
    Request,
    /// A response (Status-Line first).
    Response,
}

/// The first line, split into its three parts (as written, not validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method token.
        method: &'a [u8],
        /// Everything between the method and the SIP-Version, trimmed.
        uri: &'a [u8],
        /// The last word of the line.
        version: &'a [u8],
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The first word of the line.
        version: &'a [u8],
        /// The second word.
        code: &'a [u8],
        /// The rest of the line.
        reason: &'a [u8],
    },
}

/// The header fields this module knows by name (compact forms resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Header {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Contact,
    Route,
    RecordRoute,
    Require,
    ProxyRequire,
    Supported,
    Accept,
    Subject,
    Event,
    ReferTo,
    ReferredBy,
    AllowEvents,
    SessionExpires,
    Identity,
    Date,
    Expires,
}

impl Header {
    const ALL: [(Header, &'static str, Option<&'static str>); 25] = [
        (Header::Via, "Via", Some("v")),
        (Header::From, "From", Some("f")),
        (Header::To, "To", Some("t")),
        (Header::CallId, "Call-ID", Some("i")),
        (Header::CSeq, "CSeq", None),
        (Header::MaxForwards, "Max-Forwards", None),
        (Header::ContentLength, "Content-Length", Some("l")),
        (Header::ContentType, "Content-Type", Some("c")),
        (Header::ContentEncoding, "Content-Encoding", Some("e")),
        (Header::Contact, "Contact", Some("m")),
        (Header::Route, "Route", None),
        (Header::RecordRoute, "Record-Route", None),
        (Header::Require, "Require", None),
        (Header::ProxyRequire, "Proxy-Require", None),
        (Header::Supported, "Supported", Some("k")),
        (Header::Accept, "Accept", None),
        (Header::Subject, "Subject", Some("s")),
        (Header::Event, "Event", Some("o")),
        (Header::ReferTo, "Refer-To", Some("r")),
        (Header::ReferredBy, "Referred-By", Some("b")),
        (Header::AllowEvents, "Allow-Events", Some("u")),
        (Header::SessionExpires, "Session-Expires", Some("x")),
        (Header::Identity, "Identity", Some("y")),
        (Header::Date, "Date", None),
        (Header::Expires, "Expires", None),
    ];

    /// The full name as RFC 3261 writes it.
    pub fn canonical(self) -> &'static str {
        Header::ALL
            .iter()
            .find(|(h, _, _)| *h == self)
            .map_or("", |(_, name, _)| name)
    }

    /// Resolves a header name as written (any case, compact or full).
    pub fn from_name(name: &[u8]) -> Option<Header> {
        Header::ALL.iter().find_map(|(h, full, compact)| {
            let hit = name.eq_ignore_ascii_case(full.as_bytes())
                || compact.is_some_and(|c| name.eq_ignore_ascii_case(c.as_bytes()));
            hit.then_some(*h)
        })
    }
}

/// One header field, unfolded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written.
    pub name: &'a [u8],
    /// The name resolved, when it is one this module knows.
    pub known: Option<Header>,
    /// The value with folding undone (each `CRLF 1*WSP` is one SP) and
    /// leading/trailing whitespace removed.
    pub value: Cow<'a, [u8]>,
    /// The line the field starts on (the start line is line 1).
    pub line: usize,
}

/// How a defect ranks and which response it calls for (RFC 3261 section 8.2
/// order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A SIP-Version other than 2.0: 505.
    Version,
    /// The message cannot be read as RFC 3261 writes it: 400.
    Syntax,
    /// A method this UA (and rsipstack) does not know: 501.
    Method,
    /// Readable, but the header fields contradict each other or repeat: 400.
    Semantic,
    /// A Request-URI scheme other than sip, sips or tel: 416.
    Scheme,
    /// A `Require` option tag that is not supported: 420.
    Extension,
    /// A body type not taken in this request: 415.
    MediaType,
    /// An `Accept` that excludes every type we could answer with: 406.
    Accept,
}

impl Class {
    /// The response status for this class.
    pub fn status(self) -> u16 {
        match self {
            Class::Version => 505,
            Class::Syntax | Class::Semantic => 400,
            Class::Method => 501,
            Class::Scheme => 416,
            Class::Extension => 420,
            Class::MediaType => 415,
            Class::Accept => 406,
        }
    }
}

/// One thing wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    /// Rank and response.
    pub class: Class,
    /// What is wrong and where, e.g. `Content-Length '-999' is negative`.
    pub text: String,
    /// For [`Class::Extension`]: the option tags to list in `Unsupported`.
    pub unsupported: Vec<String>,
}

impl Defect {
    /// A defect without an option-tag list.
    pub fn new(class: Class, text: impl Into<String>) -> Defect {
        Defect {
            class,
            text: text.into(),
            unsupported: Vec::new(),
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a message says it is: the values the torture manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Request or response.
    pub kind: Kind,
    /// The method, or the status code as written.
    pub method_or_status: String,
    /// Every Call-ID value, in order (usually one).
    pub call_ids: Vec<String>,
    /// Every CSeq value, in order (usually one).
    pub cseqs: Vec<CSeqSummary>,
}

/// One CSeq value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeqSummary {
    /// The sequence number in decimal without leading zeros, however large.
    pub number: String,
    /// The method as written.
    pub method: String,
}

/// A message as read by [`parse_datagram`], with its defects.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// The start line, or `None` when the first line is not SIP.
    pub start: Option<StartLine<'a>>,
    /// The start line as written, without its CRLF.
    pub start_line: &'a [u8],
    /// The header fields, in order.
    pub fields: Vec<Field<'a>>,
    /// The body, framed by Content-Length.
    pub body: &'a [u8],
    /// Octets after the body, ignored (RFC 3261 section 18.3).
    pub ignored_tail: &'a [u8],
    /// Whether the header section ends with an empty line.
    pub header_terminated: bool,
    defects: Vec<Defect>,
}

impl<'a> Parsed<'a> {
    /// Request or response (`None` when not SIP).
    pub fn kind(&self) -> Option<Kind> {
        match self.start? {
            StartLine::Request { .. } => Some(Kind::Request),
            StartLine::Response { .. } => Some(Kind::Response),
        }
    }

    /// Every defect found, in the order found (at most 16 are kept).
    pub fn defects(&self) -> &[Defect] {
        &self.defects
    }

    /// The defect that decides the response: the best-ranked, first found.
    pub fn first_defect(&self) -> Option<&Defect> {
        self.defects
            .iter()
            .enumerate()
            .min_by_key(|(i, d)| (d.class, *i))
            .map(|(_, d)| d)
    }

    pub(crate) fn push_defect(&mut self, defect: Defect) {
        if self.defects.len() < MAX_DEFECTS {
            self.defects.push(defect);
        } else if let Some(worst) = self.defects.iter_mut().max_by_key(|d| d.class)
            && defect.class < worst.class
        {
            *worst = defect;
        }
    }

    /// The fields with this name, in order.
    pub fn all(&self, header: Header) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(move |f| f.known == Some(header))
    }

    /// The first field with this name.
    pub fn first(&self, header: Header) -> Option<&Field<'a>> {
        self.all(header).next()
    }

    /// The request method (`None` for a response or non-SIP).
    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start? {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The summary the torture manifest is compared with.
    pub fn summary(&self) -> Option<Summary> {
        let (kind, first) = match self.start? {
            StartLine::Request { method, .. } => (Kind::Request, method),
            StartLine::Response { code, .. } => (Kind::Response, code),
        };
        let call_ids = self.all(Header::CallId).map(|f| lossy(&f.value)).collect();
        let cseqs = self
            .all(Header::CSeq)
            .map(|f| {
                let (num, method) = split_cseq(&f.value);
                let digits = strip_leading_zeros(num);
                CSeqSummary {
                    number: lossy(digits),
                    method: lossy(method),
                }
            })
            .collect();
        Some(Summary {
            kind,
            method_or_status: lossy(first),
            call_ids,
            cseqs,
        })
    }
}

/// Reads a datagram leniently. Never fails and never panics: what cannot be
/// read becomes a [`Defect`], and a first line that is not SIP leaves
/// [`Parsed::start`] empty.
pub fn parse_datagram(bytes: &[u8]) -> Parsed<'_> {
    let mut parsed = Parsed {
        start: None,
        start_line: &[],
        fields: Vec::new(),
        body: &[],
        ignored_tail: &[],
        header_terminated: false,
        defects: Vec::new(),
    };
    // RFC 3261 section 7.5: ignore CRLFs before the start line.
    let mut from = 0;
    while bytes.get(from..from + 2) == Some(b"\r\n") {
        from += 2;
    }
    let Some(msg) = bytes.get(from..) else {
        return parsed;
    };
    let (head, rest) = match find(msg, b"\r\n\r\n") {
        Some(i) => {
            parsed.header_terminated = true;
            (&msg[..i], msg.get(i + 4..).unwrap_or(&[]))
        }
        None => (msg.strip_suffix(b"\r\n").unwrap_or(msg), &[][..]),
    };
    let mut lines = split_crlf(head);
    let start_line = lines.next().unwrap_or(&[]);
    parsed.start_line = start_line;
    parsed.start = parse_start_line(start_line);
    if parsed.start.is_none() {
        return parsed;
    }
    if !parsed.header_terminated {
        parsed.push_defect(Defect::new(
            Class::Syntax,
            "header section does not end with an empty line (CRLF CRLF)",
        ));
    }
    if let Some(pos) = start_line.iter().position(|&b| b == b'\r' || b == b'\n') {
        parsed.push_defect(Defect::new(
            Class::Syntax,
            format!("start line has a bare CR or LF at column {}", pos + 1),
        ));
    }
    read_fields(&mut parsed, lines);
    frame_body(&mut parsed, rest);
    super::rules::check_grammar(&mut parsed);
    parsed
}

fn parse_start_line(line: &[u8]) -> Option<StartLine<'_>> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        let (version, rest) = split_word(line);
        let (code, reason) = split_word(rest);
        return Some(StartLine::Response {
            version,
            code,
            reason: trim_lws(reason),
        });
    }
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    // A method that is not a token still makes a request (answered 400 by
    // `rules`) when the line ends in a SIP-Version.
    let method = &line[..end];
    if method.is_empty() {
        return None;
    }
    let trimmed = trim_lws(line);
    let vstart = trimmed
        .iter()
        .rposition(|&b| b == b' ' || b == b'\t')
        .map_or(0, |i| i + 1);
    let version = &trimmed[vstart..];
    if vstart == 0 || version.len() < 4 || !version[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let uri = trim_lws(trimmed.get(end..vstart).unwrap_or(&[]));
    Some(StartLine::Request {
        method,
        uri,
        version,
    })
}

/// A header field being read: name, first line's value, continuation lines,
/// line number.
type OpenField<'a> = (&'a [u8], &'a [u8], Vec<&'a [u8]>, usize);

fn read_fields<'a>(parsed: &mut Parsed<'a>, lines: impl Iterator<Item = &'a [u8]>) {
    let mut open: Option<OpenField<'a>> = None;
    for (i, line) in lines.enumerate() {
        let lineno = i + 2;
        if let Some(pos) = line.iter().position(|&b| b == b'\r' || b == b'\n') {
            parsed.push_defect(Defect::new(
                Class::Syntax,
                format!(
                    "header line {lineno} has a bare {} at column {}",
                    if line[pos] == b'\r' { "CR" } else { "LF" },
                    pos + 1
                ),
            ));
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            match open.as_mut() {
                Some((_, _, more, _)) => more.push(line),
                None => parsed.push_defect(Defect::new(
                    Class::Syntax,
                    format!("header line {lineno} starts with whitespace but continues no header"),
                )),
            }
            continue;
        }
        if let Some(field) = open.take()
            && !push_field(parsed, field)
        {
            return;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            parsed.push_defect(Defect::new(
                Class::Syntax,
                format!("header line {lineno} ('{}') has no ':'", shown(line)),
            ));
            continue;
        };
        let name = trim_lws(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            parsed.push_defect(Defect::new(
                Class::Syntax,
                format!(
                    "header line {lineno}: name '{}' is not a token",
                    shown(&line[..colon])
                ),
            ));
            continue;
        }
        open = Some((name, &line[colon + 1..], Vec::new(), lineno));
    }
    if let Some(field) = open.take() {
        push_field(parsed, field);
    }
}

/// Adds a field; `false` once the field limit is reached.
fn push_field<'a>(parsed: &mut Parsed<'a>, (name, first, more, line): OpenField<'a>) -> bool {
    if parsed.fields.len() >= MAX_HEADER_FIELDS {
        parsed.push_defect(Defect::new(
            Class::Syntax,
            format!("more than {MAX_HEADER_FIELDS} header fields (line {line})"),
        ));
        return false;
    }
    let value = if more.is_empty() {
        Cow::Borrowed(trim_lws(first))
    } else {
        let mut joined =
            Vec::with_capacity(first.len() + more.iter().map(|m| m.len()).sum::<usize>());
        for piece in std::iter::once(first).chain(more) {
            let piece = trim_lws(piece);
            if piece.is_empty() {
                continue;
            }
            if !joined.is_empty() {
                joined.push(b' ');
            }
            joined.extend_from_slice(piece);
        }
        Cow::Owned(joined)
    };
    parsed.fields.push(Field {
        name,
        known: Header::from_name(name),
        value,
        line,
    });
    true
}

fn frame_body<'a>(parsed: &mut Parsed<'a>, rest: &'a [u8]) {
    let lengths: Vec<(usize, Cow<'a, [u8]>)> = parsed
        .all(Header::ContentLength)
        .map(|f| (f.line, f.value.clone()))
        .collect();
    parsed.body = rest;
    let Some((line, value)) = lengths.first() else {
        return;
    };
    if lengths.len() > 1 {
        let values: Vec<String> = lengths.iter().map(|(_, v)| shown(v)).collect();
        let differ = lengths.iter().any(|(_, v)| v != value);
        parsed.push_defect(Defect::new(
            Class::Syntax,
            format!(
                "{} Content-Length header fields{} ({}): framing is unknowable",
                lengths.len(),
                if differ { " with different values" } else { "" },
                values.join(", ")
            ),
        ));
        return;
    }
    let length = match parse_decimal(value) {
        Decimal::Value(n) => n,
        Decimal::TooLarge => {
            parsed.push_defect(Defect::new(
                Class::Syntax,
                format!(
                    "Content-Length {} on line {line} is too large",
                    shown(value)
                ),
            ));
            return;
        }
        Decimal::NotANumber => {
            let what = if value.first() == Some(&b'-') {
                "is negative"
            } else {
                "is not a number"
            };
            parsed.push_defect(Defect::new(
                Class::Syntax,
                format!("Content-Length '{}' on line {line} {what}", shown(value)),
            ));
            return;
        }
    };
    match usize::try_from(length) {
        Ok(n) if n <= rest.len() => {
            parsed.body = &rest[..n];
            parsed.ignored_tail = &rest[n..];
        }
        _ => parsed.push_defect(Defect::new(
            Class::Syntax,
            format!(
                "Content-Length {length} is more than the {} octets after the header section",
                rest.len()
            ),
        )),
    }
}

/// A short description of a first line that is not SIP, for logs.
pub(crate) fn describe_first_line(bytes: &[u8]) -> String {
    let line = bytes
        .split(|&b| b == b'\n')
        .find(|l| !trim_lws(l).is_empty() && *l != b"\r")
        .unwrap_or(bytes);
    format!(
        "first line '{}' is neither a Request-Line nor a Status-Line",
        shown(line)
    )
}

// ---------------------------------------------------------------------------
// Byte helpers shared by the other submodules.

/// RFC 3261 `token` characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_lws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_crlf(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let cur = rest?;
        match find(cur, b"\r\n") {
            Some(i) => {
                rest = cur.get(i + 2..);
                Some(&cur[..i])
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}

/// First word (up to SP/HT) and the rest after one separator.
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| is_lws(b)) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// `CSeq` value into (number part, method part), both trimmed.
pub(crate) fn split_cseq(v: &[u8]) -> (&[u8], &[u8]) {
    let v = trim_lws(v);
    let end = v.iter().position(|&b| is_lws(b)).unwrap_or(v.len());
    (&v[..end], trim_lws(&v[end..]))
}

pub(crate) fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    match digits.iter().position(|&b| b != b'0') {
        Some(i) => &digits[i..],
        None if digits.is_empty() => digits,
        None => &digits[digits.len() - 1..],
    }
}

pub(crate) enum Decimal {
    Value(u64),
    TooLarge,
    NotANumber,
}

/// `1*DIGIT`, leading zeros allowed.
pub(crate) fn parse_decimal(s: &[u8]) -> Decimal {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Decimal::NotANumber;
    }
    let mut n: u64 = 0;
    for &b in s {
        match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
        {
            Some(v) => n = v,
            None => return Decimal::TooLarge,
        }
    }
    Decimal::Value(n)
}

pub(crate) fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// A value quoted in a defect text: lossy UTF-8, control characters escaped,
/// at most 60 characters.
pub(crate) fn shown(s: &[u8]) -> String {
    const MAX: usize = 60;
    let text = String::from_utf8_lossy(s);
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
