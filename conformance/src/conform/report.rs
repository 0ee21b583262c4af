//! The report: checks with a verdict each, grouped by call (or by page),
//! written as a table, as JSON or as JUnit XML.
//!
//! Every string that enters a [`Report`] goes through
//! [`bb_cti::redact::redact_secret`] with the operator password first
//! ([`Report::push`]), so `%OpPW%` cannot reach any output, whether it came
//! from the request, a redirect `Location`, an error message or a CRM page
//! that echoes it. Verdicts: `PASS`, `WARN` (worth fixing, does not fail the
//! run) and `FAIL` (exit status 1).

use std::fmt::Write as _;

use bb_cti::Secret;
use bb_cti::redact::redact_secret;
use serde::Serialize;

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The check passed.
    Pass,
    /// Worth fixing; does not fail the run.
    Warn,
    /// The softphone would not work as intended.
    Fail,
}

impl Verdict {
    /// `PASS`, `WARN`, `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked: `reachable`, `status`, `time`, `link`, …
    pub name: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found and, when it is not a pass, how to fix it.
    pub detail: String,
}

/// The checks of one call (or one page).
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Short name: the case (`ordinary`), `settings`, `links`.
    pub name: String,
    /// One line saying what this group is.
    pub title: String,
    /// The request as sent, password as `***`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Time for the whole exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<u64>,
    /// What the popup would show, in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_text: Option<String>,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Group {
    /// An empty group.
    pub fn new(name: impl Into<String>, title: impl Into<String>) -> Group {
        Group {
            name: name.into(),
            title: title.into(),
            request: None,
            time_ms: None,
            display_text: None,
            checks: Vec::new(),
        }
    }

    /// Adds a check.
    pub fn add(&mut self, name: &str, verdict: Verdict, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_owned(),
            verdict,
            detail: detail.into(),
        });
    }

    /// Adds a passed check.
    pub fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Verdict::Pass, detail);
    }

    /// Adds a warning.
    pub fn warn(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Verdict::Warn, detail);
    }

    /// Adds a failed check.
    pub fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Verdict::Fail, detail);
    }

    fn redact(&mut self, secret: &Secret<String>) {
        let r = |s: &mut String| *s = redact_secret(s, secret);
        r(&mut self.name);
        r(&mut self.title);
        self.request.iter_mut().for_each(r);
        self.display_text.iter_mut().for_each(r);
        for c in &mut self.checks {
            r(&mut c.detail);
        }
    }
}

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `bbconform` and its version.
    pub tool: String,
    /// `popup`, `detail` or `links`.
    pub command: String,
    /// What was checked: the configured URL, the file.
    pub target: String,
    /// Where the settings came from (`client.toml`, `--url`).
    pub origin: String,
    /// The groups, in order.
    pub groups: Vec<Group>,
    #[serde(skip)]
    secret: Secret<String>,
}

/// Counts for the summary.
#[derive(Debug, Serialize)]
struct Summary {
    checks: usize,
    passed: usize,
    warnings: usize,
    failed: usize,
    exit_code: u8,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a Report,
    summary: Summary,
}

impl Report {
    /// A report whose strings will be scrubbed of `secret`.
    pub fn new(command: &str, target: &str, origin: &str, secret: Secret<String>) -> Report {
        let mut report = Report {
            tool: format!("bbconform {}", env!("CARGO_PKG_VERSION")),
            command: command.to_owned(),
            target: String::new(),
            origin: String::new(),
            groups: Vec::new(),
            secret,
        };
        report.target = redact_secret(target, &report.secret);
        report.origin = redact_secret(origin, &report.secret);
        report
    }

    /// Adds a group, redacted.
    pub fn push(&mut self, mut group: Group) {
        group.redact(&self.secret);
        self.groups.push(group);
    }

    fn checks(&self) -> impl Iterator<Item = (&Group, &Check)> {
        self.groups
            .iter()
            .flat_map(|g| g.checks.iter().map(move |c| (g, c)))
    }

    fn count(&self, v: Verdict) -> usize {
        self.checks().filter(|(_, c)| c.verdict == v).count()
    }

    /// Number of failed checks.
    pub fn failed(&self) -> usize {
        self.count(Verdict::Fail)
    }

    fn summary(&self) -> Summary {
        let failed = self.failed();
        Summary {
            checks: self.checks().count(),
            passed: self.count(Verdict::Pass),
            warnings: self.count(Verdict::Warn),
            failed,
            exit_code: if failed > 0 {
                super::EXIT_FAIL
            } else {
                super::EXIT_PASS
            },
        }
    }

    /// The summary line.
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let mut line = format!(
            "Summary: {}: {} checks, {} passed, {} warning{}, {} failed",
            if s.failed > 0 { "FAIL" } else { "PASS" },
            s.checks,
            s.passed,
            s.warnings,
            if s.warnings == 1 { "" } else { "s" },
            s.failed
        );
        let failed: Vec<String> = self
            .checks()
            .filter(|(_, c)| c.verdict == Verdict::Fail)
            .map(|(g, c)| format!("{}/{}", g.name, c.name))
            .collect();
        if !failed.is_empty() {
            line.push_str(": ");
            line.push_str(&failed.join(", "));
        }
        line
    }

    /// The readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{} {}: {}", self.tool, self.command, self.target);
        if !self.origin.is_empty() {
            let _ = write!(out, " (settings: {})", self.origin);
        }
        let _ = writeln!(out);
        for g in &self.groups {
            let _ = writeln!(out);
            let _ = writeln!(out, "{}: {}", g.name, g.title);
            if let Some(request) = &g.request {
                let _ = writeln!(out, "  {request}");
            }
            let width = g
                .checks
                .iter()
                .map(|c| c.name.chars().count())
                .max()
                .unwrap_or(0);
            for c in &g.checks {
                let _ = writeln!(
                    out,
                    "  {}  {:<width$}  {}",
                    c.verdict.as_str(),
                    c.name,
                    c.detail
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.summary_line());
        out
    }

    /// The report as one JSON document (with a `summary`).
    pub fn to_json(&self) -> String {
        let doc = JsonReport {
            report: self,
            summary: self.summary(),
        };
        serde_json::to_string_pretty(&doc)
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise the report: {e}\"}}"))
    }

    /// The report as JUnit XML: one `<testsuite>` per group, one
    /// `<testcase>` per check; `FAIL` is a `<failure>`, `WARN` a passing
    /// testcase with the warning in `<system-out>`.
    pub fn to_junit(&self) -> String {
        let s = self.summary();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\">",
            xml(&format!("bbconform {} {}", self.command, self.target)),
            s.checks,
            s.failed
        );
        for g in &self.groups {
            let failures = g
                .checks
                .iter()
                .filter(|c| c.verdict == Verdict::Fail)
                .count();
            let time = g
                .time_ms
                .map(|ms| format!(" time=\"{:.3}\"", ms as f64 / 1000.0))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\"{time}>",
                xml(&g.name),
                g.checks.len(),
                failures
            );
            let mut seen: Vec<&str> = Vec::new();
            for c in &g.checks {
                let n = seen.iter().filter(|&&x| x == c.name).count();
                seen.push(&c.name);
                let name = if n == 0 {
                    c.name.clone()
                } else {
                    format!("{} ({})", c.name, n + 1)
                };
                let _ = write!(
                    out,
                    "    <testcase classname=\"bbconform.{}.{}\" name=\"{}\"",
                    xml(&self.command),
                    xml(&g.name),
                    xml(&name)
                );
                match c.verdict {
                    Verdict::Pass => {
                        let _ = writeln!(
                            out,
                            "><system-out>{}</system-out></testcase>",
                            xml(&c.detail)
                        );
                    }
                    Verdict::Warn => {
                        let _ = writeln!(
                            out,
                            "><system-out>WARN: {}</system-out></testcase>",
                            xml(&c.detail)
                        );
                    }
                    Verdict::Fail => {
                        let _ = writeln!(
                            out,
                            "><failure type=\"FAIL\" message=\"{}\">{}</failure></testcase>",
                            xml(&c.detail),
                            xml(&c.detail)
                        );
                    }
                }
            }
            let _ = writeln!(out, "  </testsuite>");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0
/// cannot hold.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new(
            "popup",
            "https://crm/x",
            "--url",
            Secret::new("s3cr3t".into()),
        );
        let mut g = Group::new("ordinary", "a call");
        g.request = Some("GET https://crm/x?pw=s3cr3t".into());
        g.pass("status", "HTTP 200");
        g.warn("display", "echo s3cr3t");
        g.fail("time", "1500 ms <slow> & \"late\"\u{1}");
        r.push(g);
        r
    }

    #[test]
    fn password_never_reaches_any_output() {
        let r = sample();
        for out in [r.to_table(), r.to_json(), r.to_junit()] {
            assert!(!out.contains("s3cr3t"), "{out}");
            assert!(out.contains("***"));
        }
    }

    #[test]
    fn summary_names_the_failed_checks() {
        let r = sample();
        assert_eq!(r.failed(), 1);
        assert_eq!(
            r.summary_line(),
            "Summary: FAIL: 3 checks, 1 passed, 1 warning, 1 failed: ordinary/time"
        );
    }

    #[test]
    fn junit_is_escaped() {
        let x = sample().to_junit();
        assert!(x.contains("1500 ms &lt;slow&gt; &amp; &quot;late&quot;</failure>"));
        assert!(!x.contains('\u{1}'));
        assert!(x.contains("<testsuite name=\"ordinary\" tests=\"3\" failures=\"1\""));
    }
}
