//! The six WEB-2 placeholders and substituting them in a string.
//!
//! Rules:
//!
//! - the placeholders are exactly `%CallerNumber%`, `%Exten%`,
//!   `%OutLineNumber%`, `%CallId%`, `%OpId%` and `%OpPW%` (case-sensitive);
//! - scanning goes left to right and a placeholder is recognised wherever it
//!   starts; everything else, including a lone `%` or a percent escape such
//!   as `%E3`, is literal text;
//! - something that looks like a placeholder but is not one (`%Foo%`,
//!   `%callernumber%`) is kept as written and reported as a [`TemplateWarning`];
//! - substitution is one pass: a substituted value is never scanned again,
//!   so a caller number reading `%OpPW%` stays that literal text.
//!
//! A [`Template`] is parsed once, when settings are saved, and rendered for
//! each call.

use std::borrow::Cow;
use std::fmt;

use crate::call::CallValues;

/// One of the six WEB-2 placeholders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `%CallerNumber%`
    CallerNumber,
    /// `%Exten%`
    Exten,
    /// `%OutLineNumber%`
    OutLineNumber,
    /// `%CallId%`
    CallId,
    /// `%OpId%`
    OpId,
    /// `%OpPW%`
    OpPw,
}

impl Placeholder {
    /// All six, in the order of the settings buttons.
    pub const ALL: [Placeholder; 6] = [
        Placeholder::CallerNumber,
        Placeholder::Exten,
        Placeholder::OutLineNumber,
        Placeholder::CallId,
        Placeholder::OpId,
        Placeholder::OpPw,
    ];

    /// The placeholder as written in settings, with its `%` signs.
    pub fn token(self) -> &'static str {
        match self {
            Placeholder::CallerNumber => "%CallerNumber%",
            Placeholder::Exten => "%Exten%",
            Placeholder::OutLineNumber => "%OutLineNumber%",
            Placeholder::CallId => "%CallId%",
            Placeholder::OpId => "%OpId%",
            Placeholder::OpPw => "%OpPW%",
        }
    }

    /// True for the values that come from the network (everything except
    /// `%OpId%` and `%OpPW%`, which come from the operator login).
    pub fn is_from_network(self) -> bool {
        !matches!(self, Placeholder::OpId | Placeholder::OpPw)
    }

    /// The value of this placeholder in `values`.
    pub fn value(self, values: &CallValues) -> &str {
        match self {
            Placeholder::CallerNumber => &values.caller_number,
            Placeholder::Exten => &values.exten,
            Placeholder::OutLineNumber => &values.outline_number,
            Placeholder::CallId => &values.call_id,
            Placeholder::OpId => &values.op_id,
            Placeholder::OpPw => values.op_pw.expose(),
        }
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// A `%Name%` that is not one of the six placeholders; kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateWarning {
    /// The unknown token, with its `%` signs.
    pub token: String,
    /// The placeholder it differs from only in letter case, if any.
    pub did_you_mean: Option<Placeholder>,
}

impl fmt::Display for TemplateWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a placeholder and is sent as written",
            self.token
        )?;
        match self.did_you_mean {
            Some(p) => write!(f, " (placeholders are case-sensitive: write {p})"),
            None => f.write_str(
                " (placeholders: %CallerNumber% %Exten% %OutLineNumber% %CallId% %OpId% %OpPW%)",
            ),
        }
    }
}

/// A piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text taken as written.
    Literal(String),
    /// A placeholder to substitute.
    Placeholder(Placeholder),
}

/// A string with placeholders, parsed once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    warnings: Vec<TemplateWarning>,
}

impl Template {
    /// Parses `text`. Never fails: unknown `%Names%` become literal text and
    /// are listed in [`Template::warnings`].
    pub fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut warnings = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('%') {
            literal.push_str(&rest[..pos]);
            let at = &rest[pos..];
            if let Some(p) = Placeholder::ALL
                .into_iter()
                .find(|p| at.starts_with(p.token()))
            {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Placeholder(p));
                rest = &at[p.token().len()..];
                continue;
            }
            if let Some(token) = unknown_token(at) {
                let did_you_mean = Placeholder::ALL
                    .into_iter()
                    .find(|p| p.token().eq_ignore_ascii_case(token));
                let warning = TemplateWarning {
                    token: token.to_owned(),
                    did_you_mean,
                };
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
            // The '%' is literal; scanning resumes right after it so that its
            // partner can still open a real placeholder ("%Foo%OpId%").
            literal.push('%');
            rest = &at[1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Template { parts, warnings }
    }

    /// The parsed pieces.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Unknown `%Names%` found while parsing.
    pub fn warnings(&self) -> &[TemplateWarning] {
        &self.warnings
    }

    /// True when the template uses `p`.
    pub fn uses(&self, p: Placeholder) -> bool {
        self.placeholders().any(|q| q == p)
    }

    /// The placeholders used, in order, with repeats.
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Placeholder(p) => Some(*p),
            Part::Literal(_) => None,
        })
    }

    /// True when the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.placeholders().next().is_none()
    }

    /// The template written back as text (the parse is lossless).
    pub fn source(&self) -> String {
        self.render_with(|p| Cow::Borrowed(p.token()), Cow::Borrowed)
    }

    /// Substitutes the placeholders with their values. One pass: values are
    /// not scanned for placeholders.
    pub fn render(&self, values: &CallValues) -> String {
        self.render_with(|p| Cow::Borrowed(p.value(values)), Cow::Borrowed)
    }

    /// Renders with a function giving each placeholder's text and one
    /// transforming literal text (for example percent-encoding both).
    pub fn render_with<'a>(
        &'a self,
        mut placeholder: impl FnMut(Placeholder) -> Cow<'a, str>,
        mut literal: impl FnMut(&'a str) -> Cow<'a, str>,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(&literal(l)),
                Part::Placeholder(p) => out.push_str(&placeholder(*p)),
            }
        }
        out
    }
}

/// If `at` (which starts with '%') opens a `%Name%` token, with Name a
/// letter followed by letters, digits or '_', returns the token. Two hex
/// digits (`%E3%`) are taken for a percent escape, not a name.
fn unknown_token(at: &str) -> Option<&str> {
    let body = &at[1..];
    let end = body.find('%')?;
    let name = &body[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(&at[..end + 2])
}

/// Substitutes the placeholders in `text` in one go; returns the result and
/// the warnings for unknown `%Names%`.
pub fn substitute(text: &str, values: &CallValues) -> (String, Vec<TemplateWarning>) {
    let t = Template::parse(text);
    let out = t.render(values);
    (out, t.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;

    fn values() -> CallValues {
        CallValues {
            caller_number: "09012345678".into(),
            exten: "1910".into(),
            outline_number: "0312345678".into(),
            call_id: "abc@pbx".into(),
            op_id: "op1".into(),
            op_pw: Secret::new("pw".into()),
        }
    }

    #[test]
    fn all_six() {
        let (out, w) = substitute(
            "%CallerNumber%|%Exten%|%OutLineNumber%|%CallId%|%OpId%|%OpPW%",
            &values(),
        );
        assert_eq!(out, "09012345678|1910|0312345678|abc@pbx|op1|pw");
        assert!(w.is_empty());
    }

    #[test]
    fn case_sensitive_and_unknown_kept() {
        let (out, w) = substitute("a=%callernumber%&b=%Foo%", &values());
        assert_eq!(out, "a=%callernumber%&b=%Foo%");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].token, "%callernumber%");
        assert_eq!(w[0].did_you_mean, Some(Placeholder::CallerNumber));
        assert_eq!(w[1].token, "%Foo%");
        assert_eq!(w[1].did_you_mean, None);
        assert!(w[0].to_string().contains("write %CallerNumber%"));
    }

    #[test]
    fn lone_percent_is_literal() {
        let (out, w) = substitute("100% sure", &values());
        assert_eq!(out, "100% sure");
        assert!(w.is_empty());
        let (out, w) = substitute("%", &values());
        assert_eq!(out, "%");
        assert!(w.is_empty());
        let (out, _) = substitute("50%%CallerNumber%%", &values());
        assert_eq!(out, "50%09012345678%");
    }

    #[test]
    fn percent_escapes_are_not_names() {
        let (out, w) = substitute("%E3%81%82%CallerNumber%", &values());
        assert_eq!(out, "%E3%81%8209012345678");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unknown_does_not_swallow_following_placeholder() {
        let (out, w) = substitute("%Foo%OpId%", &values());
        assert_eq!(out, "%Fooop1");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn substituted_values_are_not_rescanned() {
        let mut v = values();
        v.caller_number = "%OpPW%".into();
        let (out, _) = substitute("%CallerNumber%", &v);
        assert_eq!(out, "%OpPW%");
    }

    #[test]
    fn parse_is_lossless() {
        for s in ["", "%", "%%", "a%b", "%OpPW%x%Foo%", "%E3%81"] {
            assert_eq!(Template::parse(s).source(), s);
        }
    }

    #[test]
    fn uses_reports_placeholders() {
        let t = Template::parse("x%OpPW%");
        assert!(t.uses(Placeholder::OpPw));
        assert!(!t.uses(Placeholder::OpId));
        assert!(!t.is_literal());
        assert!(Template::parse("plain").is_literal());
    }
}
