//! Parameter lines for web integration (WEB-3): one `name=value` per line.
//!
//! Each line is trimmed; blank lines are skipped; a line is split at its
//! **first** `=` (the value may hold more `=`); name and value are trimmed and
//! the name must not be empty. Anything else is refused when the settings are
//! saved, naming the 1-based line and its text. Placeholders are substituted
//! in names and values *after* splitting, so a value holding `&` or `=` can
//! never create another parameter.

use std::fmt;

use thiserror::Error;

use crate::call::CallValues;
use crate::template::{Placeholder, Template, TemplateWarning};

/// One parsed `name=value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLine {
    /// 1-based line number in the settings text.
    pub line: usize,
    /// The name, with its placeholders.
    pub name: Template,
    /// The value, with its placeholders.
    pub value: Template,
}

/// Parsed parameter lines, in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamLines {
    lines: Vec<ParamLine>,
}

/// What is wrong with a parameter line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamErrorKind {
    /// The line has no `=`.
    NoEquals,
    /// The part before the first `=` is empty.
    EmptyName,
}

/// A parameter line that cannot be used, e.g.
/// `popup parameters, line 4: 'campaignid 1234' has no '=' (write name=value)`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub struct ParamError {
    /// Which parameter box, e.g. `popup parameters`; empty for none.
    pub context: String,
    /// 1-based line number.
    pub line: usize,
    /// The offending line, trimmed.
    pub text: String,
    /// What is wrong.
    pub kind: ParamErrorKind,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.context.is_empty() {
            write!(f, "{}, ", self.context)?;
        }
        let text = self.text.escape_debug();
        match self.kind {
            ParamErrorKind::NoEquals => write!(
                f,
                "line {}: '{text}' has no '=' (write name=value)",
                self.line
            ),
            ParamErrorKind::EmptyName => write!(
                f,
                "line {}: '{text}' has no name before '=' (write name=value)",
                self.line
            ),
        }
    }
}

/// An unknown `%Name%` in a parameter line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamWarning {
    /// 1-based line number.
    pub line: usize,
    /// The unknown token.
    pub warning: TemplateWarning,
}

impl fmt::Display for ParamWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.warning)
    }
}

/// Parameters after substitution, not yet encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedParam {
    /// The name after substitution.
    pub name: String,
    /// The value after substitution.
    pub value: String,
}

impl ParamLines {
    /// Parses the parameter box without a context label in errors.
    pub fn parse(text: &str) -> Result<ParamLines, ParamError> {
        Self::parse_in("", text)
    }

    /// Parses the parameter box; errors start with `context` (e.g.
    /// `popup parameters`). CRLF and lone CR line ends are accepted.
    pub fn parse_in(context: &str, text: &str) -> Result<ParamLines, ParamError> {
        let mut lines = Vec::new();
        let normalized = text.replace("\r\n", "\n");
        for (i, raw) in normalized.split(['\n', '\r']).enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let err = |kind| ParamError {
                context: context.to_owned(),
                line: i + 1,
                text: line.to_owned(),
                kind,
            };
            let Some((name, value)) = line.split_once('=') else {
                return Err(err(ParamErrorKind::NoEquals));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(err(ParamErrorKind::EmptyName));
            }
            lines.push(ParamLine {
                line: i + 1,
                name: Template::parse(name),
                value: Template::parse(value.trim()),
            });
        }
        Ok(ParamLines { lines })
    }

    /// The parsed lines.
    pub fn lines(&self) -> &[ParamLine] {
        &self.lines
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// True when any name or value uses `p`.
    pub fn uses(&self, p: Placeholder) -> bool {
        self.lines.iter().any(|l| l.name.uses(p) || l.value.uses(p))
    }

    /// Unknown `%Names%`, with their line numbers.
    pub fn warnings(&self) -> Vec<ParamWarning> {
        self.lines
            .iter()
            .flat_map(|l| {
                l.name
                    .warnings()
                    .iter()
                    .chain(l.value.warnings())
                    .map(|w| ParamWarning {
                        line: l.line,
                        warning: w.clone(),
                    })
            })
            .collect()
    }

    /// Substitutes the placeholders in every name and value.
    pub fn render(&self, values: &CallValues) -> Vec<RenderedParam> {
        self.lines
            .iter()
            .map(|l| RenderedParam {
                name: l.name.render(values),
                value: l.value.render(values),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_example() {
        let p = ParamLines::parse(
            "number=%CallerNumber%\noutline=%OutLineNumber%\ncampaignid=1234\nuser_name=test_user\nuser_password=test_pass\n",
        )
        .unwrap();
        assert_eq!(p.lines().len(), 5);
        assert!(p.uses(Placeholder::CallerNumber));
        assert!(!p.uses(Placeholder::OpPw));
        assert!(p.warnings().is_empty());
    }

    #[test]
    fn split_at_first_equals_and_trim() {
        let p = ParamLines::parse("  q = a=b=c  \r\n\r\n\t\n x=").unwrap();
        let v = p.render(&CallValues::default());
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "q");
        assert_eq!(v[0].value, "a=b=c");
        assert_eq!(v[1].name, "x");
        assert_eq!(v[1].value, "");
        assert_eq!(p.lines()[1].line, 4);
    }

    #[test]
    fn no_equals_error_message() {
        let e = ParamLines::parse_in(
            "popup parameters",
            "number=%CallerNumber%\noutline=%OutLineNumber%\n\ncampaignid 1234\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(e.kind, ParamErrorKind::NoEquals);
        assert_eq!(
            e.to_string(),
            "popup parameters, line 4: 'campaignid 1234' has no '=' (write name=value)"
        );
    }

    #[test]
    fn empty_name_refused() {
        let e = ParamLines::parse("a=1\r\n  = 2").unwrap_err();
        assert_eq!(e.kind, ParamErrorKind::EmptyName);
        assert_eq!(
            e.to_string(),
            "line 2: '= 2' has no name before '=' (write name=value)"
        );
    }

    #[test]
    fn lone_cr_ends_a_line() {
        let p = ParamLines::parse("a=1\rb=2").unwrap();
        assert_eq!(p.lines().len(), 2);
        assert_eq!(p.lines()[1].line, 2);
    }

    #[test]
    fn empty_text_is_no_parameters() {
        assert!(ParamLines::parse("").unwrap().is_empty());
        assert!(ParamLines::parse("\r\n \n").unwrap().is_empty());
    }

    #[test]
    fn values_cannot_make_parameters() {
        let p = ParamLines::parse("n=%CallerNumber%").unwrap();
        let v = CallValues {
            caller_number: "1&evil=2\nx=y".into(),
            ..CallValues::default()
        };
        let r = p.render(&v);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].value, "1&evil=2\nx=y");
    }

    #[test]
    fn warnings_carry_line_numbers() {
        let p = ParamLines::parse("a=1\nb=%opid%").unwrap();
        let w = p.warnings();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, 2);
        assert!(w[0].to_string().starts_with("line 2: '%opid%'"));
    }
}
