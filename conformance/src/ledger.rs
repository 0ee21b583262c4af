//! The requirement ledger (`features/requirements.toml`) and what the Gherkin
//! files say about it: which scenarios carry which requirement IDs. Used by
//! the ledger check (`tests/ledger.rs`) and by the HTML report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cucumber::gherkin::{Feature, GherkinEnv};

/// A requirement ID out of a tag (`@WEB-2` → `WEB-2`), or `None`.
pub fn requirement_id(tag: &str) -> Option<&str> {
    let t = tag.trim_start_matches('@');
    let (prefix, num) = t.split_once('-')?;
    (matches!(
        prefix,
        "UI" | "ACD" | "WEB" | "CMD" | "URI" | "CLI" | "CALL" | "Q"
    ) && !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit()))
    .then_some(t)
}

/// One requirement of the ledger.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// `WEB-2`
    pub id: String,
    /// Our one-line statement.
    pub statement: String,
    /// Why it has no scenario yet, if so.
    pub pending: Option<String>,
}

/// Reads `requirements.toml` in the feature folder `dir`.
pub fn load(dir: &Path) -> Result<Vec<Requirement>, String> {
    let path = dir.join("requirements.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{} does not parse: {e}", path.display()))?;
    let mut out = Vec::new();
    for (id, entry) in table {
        if requirement_id(&id).is_none() {
            return Err(format!(
                "{}: '{id}' is not a requirement ID (UI-n, ACD-n, WEB-n, CMD-n, URI-n, CLI-n, CALL-n, Q-n)",
                path.display()
            ));
        }
        let statement = entry
            .get("statement")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .trim()
            .to_string();
        if statement.is_empty() {
            return Err(format!("{}: {id} has no statement", path.display()));
        }
        let pending = entry
            .get("pending")
            .and_then(|p| p.as_str())
            .map(str::to_string);
        out.push(Requirement {
            id,
            statement,
            pending,
        });
    }
    out.sort_by_key(|r| sort_key(&r.id));
    Ok(out)
}

fn sort_key(id: &str) -> (usize, u32) {
    const ORDER: [&str; 8] = ["UI", "ACD", "WEB", "CMD", "URI", "CLI", "CALL", "Q"];
    let (p, n) = id.split_once('-').unwrap_or((id, "0"));
    (
        ORDER.iter().position(|o| *o == p).unwrap_or(ORDER.len()),
        n.parse().unwrap_or(0),
    )
}

/// One scenario and the requirement IDs it carries (its own tags, its rule's,
/// its feature's and its examples').
#[derive(Debug, Clone)]
pub struct ScenarioInfo {
    /// The feature file name.
    pub file: String,
    /// The file's path.
    pub path: PathBuf,
    /// The scenario's line.
    pub line: usize,
    /// The scenario's name.
    pub name: String,
    /// The feature's name.
    pub feature: String,
    /// Requirement IDs.
    pub ids: BTreeSet<String>,
}

/// Every scenario in the `.feature` files of `dir`.
pub fn scenarios(dir: &Path) -> Result<Vec<ScenarioInfo>, String> {
    let mut files = Vec::new();
    feature_files(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let feature = Feature::parse_path(&file, GherkinEnv::default())
            .map_err(|e| format!("{} does not parse: {e}", file.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ids = |tags: &[String]| -> BTreeSet<String> {
            tags.iter()
                .filter_map(|t| requirement_id(t))
                .map(str::to_string)
                .collect()
        };
        let feature_ids = ids(&feature.tags);
        let mut push = |scenario: &cucumber::gherkin::Scenario, extra: &BTreeSet<String>| {
            let mut all = feature_ids.clone();
            all.extend(extra.iter().cloned());
            all.extend(ids(&scenario.tags));
            for ex in &scenario.examples {
                all.extend(ids(&ex.tags));
            }
            out.push(ScenarioInfo {
                file: name.clone(),
                path: file.clone(),
                line: scenario.position.line,
                name: scenario.name.clone(),
                feature: feature.name.clone(),
                ids: all,
            });
        };
        for s in &feature.scenarios {
            push(s, &BTreeSet::new());
        }
        for rule in &feature.rules {
            let rule_ids = ids(&rule.tags);
            for s in &rule.scenarios {
                push(s, &rule_ids);
            }
        }
    }
    Ok(out)
}

/// The `.feature` files under `dir`, sub-folders included (as cucumber
/// finds them).
pub fn feature_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            feature_files(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "feature") {
            out.push(path);
        }
    }
    Ok(())
}

/// How a scenario ended in the last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed.
    Failed,
    /// A step was skipped (no matching step definition).
    Skipped,
    /// Not run (filtered out by tags, or no report).
    NotRun,
}

/// Reads scenario outcomes out of cucumber's JUnit XML, keyed by
/// (feature file name, scenario line).
pub fn junit_outcomes(xml: &str) -> BTreeMap<(String, usize), Outcome> {
    let mut out = BTreeMap::new();
    for case in xml.split("<testcase ").skip(1) {
        let Some(name) = case
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        // "Scenario: NAME: path/to/file.feature:LINE:COL"
        let mut parts = name.rsplitn(3, ':');
        let (_col, line, rest) = (parts.next(), parts.next(), parts.next());
        let (Some(line), Some(rest)) = (line.and_then(|l| l.parse().ok()), rest) else {
            continue;
        };
        let file = rest.rsplit('/').next().unwrap_or(rest).trim().to_string();
        let body = case.split("</testcase>").next().unwrap_or(case);
        let outcome = if body.contains("<failure") || body.contains("<error") {
            Outcome::Failed
        } else if body.contains("<skipped") {
            Outcome::Skipped
        } else {
            Outcome::Passed
        };
        out.insert((file, line), outcome);
    }
    out
}

/// The failed scenarios of a JUnit report: the test-case name and the
/// failure message, XML entities decoded. Printed again at the end of a run
/// so a failure is the last thing a CI log shows, not lost mid-stream.
pub fn junit_failures(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for case in xml.split("<testcase ").skip(1) {
        let body = case.split("</testcase>").next().unwrap_or(case);
        let Some(failure) = body
            .split_once("<failure")
            .or_else(|| body.split_once("<error"))
            .map(|(_, f)| f)
        else {
            continue;
        };
        let attr = |text: &str, key: &str| {
            text.split(&format!("{key}=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(unescape)
                .unwrap_or_default()
        };
        let name = attr(case, "name");
        let mut message = attr(failure, "message");
        if message.is_empty() {
            // The message may be the element's text instead of an attribute.
            message = failure
                .split_once('>')
                .and_then(|(_, rest)| rest.split("</").next())
                .map(|t| unescape(t.trim_start_matches("<![CDATA[").trim_end_matches("]]>")))
                .unwrap_or_default();
        }
        out.push((name, message));
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#10;", "\n")
        .replace("&#xA;", "\n")
        .replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: each requirement, its scenarios and their outcome.
pub fn html_report(
    requirements: &[Requirement],
    scenarios: &[ScenarioInfo],
    outcomes: &BTreeMap<(String, usize), Outcome>,
    title: &str,
) -> String {
    let outcome_of = |s: &ScenarioInfo| {
        outcomes
            .get(&(s.file.clone(), s.line))
            .copied()
            .unwrap_or(Outcome::NotRun)
    };
    let (mut pass, mut fail, mut uncovered) = (0, 0, 0);
    let mut rows = String::new();
    for r in requirements {
        let mine: Vec<&ScenarioInfo> = scenarios.iter().filter(|s| s.ids.contains(&r.id)).collect();
        let verdict = if mine.is_empty() {
            uncovered += 1;
            "uncovered"
        } else if mine.iter().any(|s| outcome_of(s) == Outcome::Failed) {
            fail += 1;
            "failed"
        } else if mine.iter().all(|s| outcome_of(s) == Outcome::Passed) {
            pass += 1;
            "passed"
        } else {
            "incomplete"
        };
        let mut cells = String::new();
        for s in &mine {
            let o = outcome_of(s);
            cells.push_str(&format!(
                "<li class=\"{}\">{} — {} <small>({}:{})</small></li>",
                match o {
                    Outcome::Passed => "passed",
                    Outcome::Failed => "failed",
                    Outcome::Skipped => "skipped",
                    Outcome::NotRun => "notrun",
                },
                match o {
                    Outcome::Passed => "passed",
                    Outcome::Failed => "FAILED",
                    Outcome::Skipped => "skipped",
                    Outcome::NotRun => "not run",
                },
                escape(&s.name),
                escape(&s.file),
                s.line
            ));
        }
        if let Some(p) = &r.pending {
            cells.push_str(&format!("<li class=\"notrun\">pending: {}</li>", escape(p)));
        }
        rows.push_str(&format!(
            "<tr class=\"{verdict}\"><td><b>{}</b></td><td>{}</td><td>{verdict}</td><td><ul>{cells}</ul></td></tr>\n",
            escape(&r.id),
            escape(&r.statement)
        ));
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .4em; vertical-align: top; text-align: left; }}
tr.passed td:nth-child(3) {{ color: #176c2b; }}
tr.failed td:nth-child(3), li.failed {{ color: #b00020; font-weight: bold; }}
tr.uncovered td:nth-child(3), tr.incomplete td:nth-child(3) {{ color: #8a5a00; }}
li.notrun, li.skipped {{ color: #666; }}
ul {{ margin: 0; padding-left: 1.2em; }}
</style></head><body>
<h1>{title}</h1>
<p>{total} requirements: {pass} passed, {fail} failed, {uncovered} without a scenario, {other} incomplete (some scenarios not run).</p>
<table><tr><th>ID</th><th>Requirement</th><th>Verdict</th><th>Scenarios</th></tr>
{rows}</table></body></html>
"#,
        title = escape(title),
        total = requirements.len(),
        other = requirements.len() - pass - fail - uncovered,
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn junit_failures_names_the_failed_case_and_its_message() {
        let xml = r#"<testsuites><testsuite><testcase name="Scenario: fine: a.feature:3:3" time="1"><system-out>ok</system-out></testcase><testcase name="Scenario: broken &amp; late: b.feature:9:3" time="2"><failure type="Step Panicked" message="no call within 10 s&#10;last event: &quot;ringing&quot;"/><system-out>x</system-out></testcase></testsuite></testsuites>"#;
        let failures = junit_failures(xml);
        assert_eq!(
            failures,
            vec![(
                "Scenario: broken & late: b.feature:9:3".to_string(),
                "no call within 10 s\nlast event: \"ringing\"".to_string()
            )]
        );
    }
    use super::*;

    #[test]
    fn junit_names_map_to_file_and_line() {
        let xml = r#"<testsuite><testcase name="Scenario: a: work/main/features/web_popup.feature:12:3" time="1"><system-out></system-out></testcase><testcase name="Scenario: b: /x/features/other.feature:40:3"><failure message="x"/></testcase></testsuite>"#;
        let o = junit_outcomes(xml);
        assert_eq!(
            o.get(&("web_popup.feature".into(), 12)),
            Some(&Outcome::Passed)
        );
        assert_eq!(o.get(&("other.feature".into(), 40)), Some(&Outcome::Failed));
    }

    #[test]
    fn report_marks_uncovered_and_failed() {
        let reqs = vec![
            Requirement {
                id: "WEB-1".into(),
                statement: "popup".into(),
                pending: None,
            },
            Requirement {
                id: "UI-1".into(),
                statement: "status <bar>".into(),
                pending: Some("later".into()),
            },
        ];
        let scen = vec![ScenarioInfo {
            file: "f.feature".into(),
            path: "f.feature".into(),
            line: 3,
            name: "s".into(),
            feature: "F".into(),
            ids: ["WEB-1".to_string()].into(),
        }];
        let mut out = BTreeMap::new();
        out.insert(("f.feature".to_string(), 3), Outcome::Failed);
        let html = html_report(&reqs, &scen, &out, "t");
        assert!(html.contains("<tr class=\"failed\"><td><b>WEB-1</b>"));
        assert!(html.contains("<tr class=\"uncovered\"><td><b>UI-1</b>"));
        assert!(html.contains("status &lt;bar&gt;"));
        assert!(html.contains("2 requirements: 0 passed, 1 failed, 1 without a scenario"));
    }
}
