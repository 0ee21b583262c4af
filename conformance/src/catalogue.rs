//! The step catalogue: every step definition of `bbfeatures`, read from the
//! step sources (their `#[given]`/`#[when]`/`#[then]` attribute, the doc
//! comment above it and the function's parameters), with an example line
//! found in the feature files. `docs/steps.md` is generated from it
//! (`cargo xtask steps`; `tests/catalogue.rs` fails when the file is out of
//! date), and the runner uses it to name the closest steps to a misspelt one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The step sources, embedded so that an installed runner has them too.
/// `tests/catalogue.rs` checks that every file of the folder is listed.
pub const SOURCES: &[(&str, &str)] = &[
    ("acd.rs", include_str!("bin/bbfeatures/steps/acd.rs")),
    ("audio.rs", include_str!("bin/bbfeatures/steps/audio.rs")),
    ("calls.rs", include_str!("bin/bbfeatures/steps/calls.rs")),
    (
        "control.rs",
        include_str!("bin/bbfeatures/steps/control.rs"),
    ),
    ("cti.rs", include_str!("bin/bbfeatures/steps/cti.rs")),
    (
        "cti_crm.rs",
        include_str!("bin/bbfeatures/steps/cti_crm.rs"),
    ),
    (
        "cti_hooks.rs",
        include_str!("bin/bbfeatures/steps/cti_hooks.rs"),
    ),
    (
        "cti_output.rs",
        include_str!("bin/bbfeatures/steps/cti_output.rs"),
    ),
    (
        "internal.rs",
        include_str!("bin/bbfeatures/steps/internal.rs"),
    ),
    ("mod.rs", include_str!("bin/bbfeatures/steps/mod.rs")),
    (
        "settings_crash.rs",
        include_str!("bin/bbfeatures/steps/settings_crash.rs"),
    ),
    ("sounds.rs", include_str!("bin/bbfeatures/steps/sounds.rs")),
    ("srtp.rs", include_str!("bin/bbfeatures/steps/srtp.rs")),
    (
        "strangers.rs",
        include_str!("bin/bbfeatures/steps/strangers.rs"),
    ),
    ("team.rs", include_str!("bin/bbfeatures/steps/team.rs")),
    ("ui.rs", include_str!("bin/bbfeatures/steps/ui.rs")),
    (
        "ui_calls.rs",
        include_str!("bin/bbfeatures/steps/ui_calls.rs"),
    ),
    (
        "ui_popup.rs",
        include_str!("bin/bbfeatures/steps/ui_popup.rs"),
    ),
    (
        "ui_settings.rs",
        include_str!("bin/bbfeatures/steps/ui_settings.rs"),
    ),
    ("web.rs", include_str!("bin/bbfeatures/steps/web.rs")),
    (
        "xwindow.rs",
        include_str!("bin/bbfeatures/steps/xwindow.rs"),
    ),
];

/// The areas of the catalogue, in the order `docs/steps.md` shows them, and
/// the step files of each.
pub const AREAS: &[(&str, &[&str])] = &[
    ("Your own settings, tenant and CRM", &["team.rs"]),
    ("Calls", &["calls.rs", "audio.rs", "internal.rs", "srtp.rs"]),
    (
        "The operator's phone: ringer, tones, mute, do not disturb",
        &["sounds.rs"],
    ),
    (
        "Strangers on the network, and ring limits",
        &["strangers.rs"],
    ),
    ("Web (popup and detail view)", &["cti_crm.rs", "web.rs"]),
    (
        "Command hooks and the softphone's output",
        &["cti.rs", "cti_hooks.rs", "cti_output.rs"],
    ),
    ("Verbs, links and the control socket", &["control.rs"]),
    (
        "The operator's window",
        &[
            "ui.rs",
            "ui_calls.rs",
            "ui_popup.rs",
            "ui_settings.rs",
            "settings_crash.rs",
            "xwindow.rs",
        ],
    ),
    ("ACD: operators, queues, campaigns", &["acd.rs"]),
];

/// Given, When or Then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `#[given]`
    Given,
    /// `#[when]`
    When,
    /// `#[then]`
    Then,
}

impl Keyword {
    /// As written in a feature file.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Given => "Given",
            Keyword::When => "When",
            Keyword::Then => "Then",
        }
    }
}

/// How a step's text is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// The whole text, exactly.
    Literal(String),
    /// A Cucumber Expression (`{word}`, `{string}`, `{int}`, …).
    Expression(String),
    /// A regular expression.
    Regex(String),
}

impl Pattern {
    /// The pattern as written.
    pub fn text(&self) -> &str {
        match self {
            Pattern::Literal(s) | Pattern::Expression(s) | Pattern::Regex(s) => s,
        }
    }

    /// The regular expression that matches a step's text, as cucumber
    /// matches it.
    pub fn regex(&self) -> Result<regex::Regex, String> {
        match self {
            Pattern::Literal(s) => regex::Regex::new(&format!("^{}$", regex::escape(s)))
                .map_err(|e| format!("'{s}': {e}")),
            Pattern::Expression(s) => cucumber_expressions::Expression::regex(s)
                .map_err(|e| format!("'{s}' is not a Cucumber Expression: {e}")),
            Pattern::Regex(s) => regex::Regex::new(s).map_err(|e| format!("'{s}': {e}")),
        }
    }
}

/// One step definition.
#[derive(Debug, Clone)]
pub struct StepDoc {
    /// The step file, e.g. `calls.rs`.
    pub file: String,
    /// Given, When or Then.
    pub keyword: Keyword,
    /// What its text must be.
    pub pattern: Pattern,
    /// The doc comment, without `///`.
    pub doc: String,
    /// The function's parameters after the world (and the step), as
    /// `name: Type`.
    pub params: Vec<String>,
    /// It reads the step's doc string.
    pub docstring: bool,
    /// It reads the step's data table.
    pub table: bool,
    /// A line that uses it, with the file it is in.
    pub example: Option<(String, String)>,
}

/// The area a step file belongs to.
pub fn area_of(file: &str) -> Option<&'static str> {
    AREAS
        .iter()
        .find(|(_, files)| files.contains(&file))
        .map(|(name, _)| *name)
}

/// Every step definition of the embedded sources.
pub fn steps() -> Result<Vec<StepDoc>, String> {
    let mut out = Vec::new();
    for (file, src) in SOURCES {
        out.extend(parse(file, src)?);
    }
    Ok(out)
}

/// The step definitions in one step source file.
pub fn parse(file: &str, src: &str) -> Result<Vec<StepDoc>, String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let keyword = if trimmed.starts_with("#[given(") {
            Keyword::Given
        } else if trimmed.starts_with("#[when(") {
            Keyword::When
        } else if trimmed.starts_with("#[then(") {
            Keyword::Then
        } else {
            i += 1;
            continue;
        };
        let at = format!("{file}:{}", i + 1);
        // The doc comment: the `///` lines right above.
        let mut doc_lines = Vec::new();
        let mut j = i;
        while j > 0 && lines[j - 1].trim_start().starts_with("///") {
            j -= 1;
            doc_lines.push(lines[j].trim_start().trim_start_matches("///").trim());
        }
        doc_lines.reverse();
        // The attribute, up to its closing `)]`.
        let mut attr = String::new();
        let mut k = i;
        loop {
            attr.push_str(lines[k].trim());
            attr.push(' ');
            if lines[k].trim_end().ends_with(")]") || k + 1 >= lines.len() {
                break;
            }
            k += 1;
        }
        let pattern = attribute_pattern(&attr).map_err(|e| format!("{at}: {e}"))?;
        // The signature, up to the body's `{`, and the body up to the next
        // step or the end.
        let mut sig = String::new();
        let mut m = k + 1;
        while m < lines.len() {
            sig.push_str(lines[m].trim());
            sig.push(' ');
            if lines[m].trim_end().ends_with('{') {
                break;
            }
            m += 1;
        }
        let body_end = (m + 1..lines.len())
            .find(|&n| lines[n].starts_with('}'))
            .unwrap_or(lines.len());
        let body = lines[m.min(lines.len())..body_end].join("\n");
        out.push(StepDoc {
            file: file.to_string(),
            keyword,
            pattern,
            doc: doc_lines.join("\n"),
            params: params_of(&sig),
            docstring: body.contains("docstring(") || body.contains(".docstring"),
            table: body.contains(".table"),
            example: None,
        });
        i = body_end.max(i + 1);
    }
    Ok(out)
}

/// The pattern of an attribute such as `#[given(expr = "a {word}")]`.
fn attribute_pattern(attr: &str) -> Result<Pattern, String> {
    let open = attr.find('(').ok_or("no '(' in the step attribute")?;
    let inner = attr[open + 1..].trim_start();
    let (kind, rest) = if let Some(r) = inner.strip_prefix("expr") {
        ("expr", r.trim_start().trim_start_matches('=').trim_start())
    } else if let Some(r) = inner.strip_prefix("regex") {
        ("regex", r.trim_start().trim_start_matches('=').trim_start())
    } else {
        ("literal", inner)
    };
    let text = string_literal(rest)?;
    Ok(match kind {
        "expr" => Pattern::Expression(text),
        "regex" => Pattern::Regex(text),
        _ => Pattern::Literal(text),
    })
}

/// The value of the Rust string literal that `s` starts with (`"…"` with
/// escapes, or `r"…"`, `r#"…"#`).
fn string_literal(s: &str) -> Result<String, String> {
    if let Some(raw) = s.strip_prefix('r') {
        let hashes = raw.chars().take_while(|&c| c == '#').count();
        let body = raw[hashes..]
            .strip_prefix('"')
            .ok_or("a raw string without its opening quote")?;
        let close = format!("\"{}", "#".repeat(hashes));
        let end = body.find(&close).ok_or("an unterminated raw string")?;
        return Ok(body[..end].to_string());
    }
    let body = s
        .strip_prefix('"')
        .ok_or_else(|| format!("expected a string literal at '{s}'"))?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(out),
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("an unterminated string literal".into())
}

/// `ext: String, secs: u64` out of `async fn f(w: &mut BbWorld, step: &Step,
/// ext: String, secs: u64) -> …`.
fn params_of(sig: &str) -> Vec<String> {
    let Some(open) = sig.find('(') else {
        return Vec::new();
    };
    let Some(close) = sig.rfind(") ->").or_else(|| sig.rfind(')')) else {
        return Vec::new();
    };
    if close <= open {
        return Vec::new();
    }
    sig[open + 1..close]
        .split(',')
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .filter(|p| !p.contains("BbWorld") && !p.contains("&Step"))
        .collect()
}

/// Fills in each step's example: the first line, in the feature files under
/// `dirs` (in order), whose text it matches.
pub fn find_examples(steps: &mut [StepDoc], dirs: &[PathBuf]) -> Result<(), String> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for dir in dirs {
        let mut files = Vec::new();
        crate::ledger::feature_files(dir, &mut files)?;
        files.sort();
        for file in files {
            let feature = cucumber::gherkin::Feature::parse_path(
                &file,
                cucumber::gherkin::GherkinEnv::default(),
            )
            .map_err(|e| format!("{} does not parse: {e}", file.display()))?;
            let name = display_name(&file);
            for step in step_lines(&feature) {
                lines.push((name.clone(), format!("{}{}", step.keyword, step.text)));
            }
        }
    }
    for s in steps.iter_mut() {
        let re = s.pattern.regex()?;
        s.example = lines
            .iter()
            .find(|(_, line)| {
                let text = strip_keyword(line);
                re.is_match(text)
            })
            .cloned();
    }
    Ok(())
}

/// `features/web_popup.feature` or `docs/examples/…`: the last two parts.
fn display_name(file: &Path) -> String {
    let parts: Vec<String> = file
        .iter()
        .rev()
        .take(2)
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// The text of a step line without its keyword (`Given `, `And `, …).
pub fn strip_keyword(line: &str) -> &str {
    for k in ["Given ", "When ", "Then ", "And ", "But ", "* "] {
        if let Some(rest) = line.strip_prefix(k) {
            return rest;
        }
    }
    line
}

/// One step line of a feature file, as cucumber will match it.
#[derive(Debug, Clone)]
pub struct StepLine {
    /// Its line in the file.
    pub line: usize,
    /// `Given `, `And `, …
    pub keyword: String,
    /// The text after the keyword; in a Scenario Outline, once per row of
    /// its examples, with the `<name>`s filled in.
    pub text: String,
}

/// Every step line of a feature: background, scenarios and rules, the
/// outlines expanded with their examples.
pub fn step_lines(feature: &cucumber::gherkin::Feature) -> Vec<StepLine> {
    use cucumber::gherkin::{Scenario, Step};
    fn plain(out: &mut Vec<StepLine>, steps: &[Step]) {
        for st in steps {
            out.push(StepLine {
                line: st.position.line,
                keyword: st.keyword.clone(),
                text: st.value.clone(),
            });
        }
    }
    fn scenario(out: &mut Vec<StepLine>, s: &Scenario) {
        let rows: Vec<(&Vec<String>, &Vec<String>)> = s
            .examples
            .iter()
            .filter_map(|e| e.table.as_ref())
            .flat_map(|t| {
                let header = t.rows.first();
                t.rows
                    .iter()
                    .skip(1)
                    .filter_map(move |r| header.map(|h| (h, r)))
            })
            .collect();
        if rows.is_empty() {
            plain(out, &s.steps);
            return;
        }
        for (header, row) in rows {
            for st in &s.steps {
                let mut text = st.value.clone();
                for (name, value) in header.iter().zip(row) {
                    text = text.replace(&format!("<{name}>"), value);
                }
                out.push(StepLine {
                    line: st.position.line,
                    keyword: st.keyword.clone(),
                    text,
                });
            }
        }
    }
    let mut out = Vec::new();
    if let Some(b) = &feature.background {
        plain(&mut out, &b.steps);
    }
    for s in &feature.scenarios {
        scenario(&mut out, s);
    }
    for r in &feature.rules {
        if let Some(b) = &r.background {
            plain(&mut out, &b.steps);
        }
        for s in &r.scenarios {
            scenario(&mut out, s);
        }
    }
    out
}

/// `docs/steps.md`.
pub fn markdown(steps: &[StepDoc]) -> String {
    let mut md = String::new();
    md.push_str(
        "# Step catalogue\n\n\
         <!-- Generated by `cargo xtask steps` from the step definitions in\n\
         conformance/src/bin/bbfeatures/steps/; edit the doc comments there, not\n\
         this file. `cargo xtask test` fails when this file is out of date. -->\n\n\
         Every step a scenario may use, grouped by area. Parameters: `{word}` is one\n\
         word (no blanks), `{string}` a text in double quotes, `{int}` a whole number.\n\
         A step marked *doc string* takes a `\"\"\"` block under it, one marked *table*\n\
         a data table. In doc strings, `{crm}` is the mock CRM's base URL and `{dir}`\n\
         the scenario's scratch folder. How to run your own scenarios:\n\
         [`docs/qa-teams.md`](qa-teams.md).\n",
    );
    for (area, _) in AREAS {
        let mine: Vec<&StepDoc> = steps
            .iter()
            .filter(|s| area_of(&s.file) == Some(area))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let _ = write!(md, "\n## {area}\n");
        for s in mine {
            let _ = write!(
                md,
                "\n### {} {}\n\n",
                s.keyword.as_str(),
                match &s.pattern {
                    Pattern::Regex(r) => format!("`{r}` (regular expression)"),
                    p => format!("`{}`", p.text()),
                }
            );
            if !s.doc.is_empty() {
                md.push_str(&s.doc);
                md.push_str("\n\n");
            }
            let mut facts = Vec::new();
            if !s.params.is_empty() {
                facts.push(format!(
                    "parameters: {}",
                    s.params
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if s.docstring {
                facts.push("doc string".into());
            }
            if s.table {
                facts.push("table".into());
            }
            facts.push(format!("defined in `steps/{}`", s.file));
            let _ = writeln!(md, "- {}", facts.join("; "));
            if let Some((file, line)) = &s.example {
                let _ = writeln!(md, "- example (`{file}`): `{line}`");
            }
        }
    }
    md
}

/// Up to `n` steps whose pattern reads closest to `text` (a step line that
/// matched none), best first.
pub fn closest<'a>(steps: &'a [StepDoc], text: &str, n: usize) -> Vec<&'a StepDoc> {
    let text = strip_keyword(text.trim());
    let mut scored: Vec<(f64, &StepDoc)> = steps
        .iter()
        .map(|s| {
            // Compare with the pattern, its placeholders spelt as the words
            // they stand for.
            let shape = s
                .pattern
                .text()
                .trim_start_matches('^')
                .trim_end_matches('$');
            (strsim::normalized_levenshtein(text, shape), s)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(n).map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
/// Starts things.
/// Second line.
#[given(expr = "a softphone for extension {word} with the settings")]
async fn phone(w: &mut BbWorld, step: &Step, ext: String) -> Result<(), String> {
    let s = docstring(step)?;
    Ok(())
}

#[then(
    expr = "the popup \"shows\" {string}"
)]
async fn popup(w: &mut BbWorld, text: String) -> Result<(), String> {
    Ok(())
}

#[when("the caller gives up")]
async fn gives_up(w: &mut BbWorld) -> Result<(), String> {
    Ok(())
}

#[given(regex = r"^a caller (\d+)$")]
async fn caller(w: &mut BbWorld, n: String) -> Result<(), String> {
    Ok(())
}
"#;

    #[test]
    fn parses_every_form_of_step_attribute() {
        let steps = parse("x.rs", SRC).unwrap_or_default();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0].doc, "Starts things.\nSecond line.");
        assert_eq!(steps[0].params, vec!["ext: String"]);
        assert!(steps[0].docstring);
        assert_eq!(
            steps[1].pattern,
            Pattern::Expression("the popup \"shows\" {string}".into())
        );
        assert!(!steps[1].docstring);
        assert_eq!(
            steps[2].pattern,
            Pattern::Literal("the caller gives up".into())
        );
        assert_eq!(steps[3].pattern, Pattern::Regex(r"^a caller (\d+)$".into()));
        assert_eq!(steps[2].keyword, Keyword::When);
    }

    #[test]
    fn patterns_match_as_cucumber_matches() {
        let steps = parse("x.rs", SRC).unwrap_or_default();
        let re = |i: usize| steps[i].pattern.regex().map_err(|e| e.to_string());
        assert!(
            re(0).is_ok_and(|r| r.is_match("a softphone for extension 1910 with the settings"))
        );
        assert!(re(1).is_ok_and(|r| r.is_match("the popup \"shows\" \"x y\"")));
        assert!(re(2).is_ok_and(|r| !r.is_match("the caller gives up now")));
        assert!(re(3).is_ok_and(|r| r.is_match("a caller 12")));
    }

    #[test]
    fn a_misspelt_step_names_the_closest() {
        let steps = parse("x.rs", SRC).unwrap_or_default();
        let best = closest(&steps, "When the caler gives up", 1);
        assert_eq!(best[0].pattern.text(), "the caller gives up");
    }
}
