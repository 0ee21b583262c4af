//! `bbfeatures [DIR]`: runs the `.feature` files of DIR (default: the
//! workspace's `features/`) against the real `bbclient` and `bluebean-sim`
//! processes, with the step library of this crate (`steps/`, catalogued in
//! `docs/steps.md`). Writes JUnit XML and an HTML report; a filter that
//! matches no scenario, and a step that matches no definition, fail the run.

mod steps;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use conformance::world::BbWorld;
use cucumber::writer::Stats as _;
use cucumber::{World as _, WriterExt as _, cli, writer};

/// bbfeatures' own options, beside cucumber's (`--tags`, `--name`, …).
#[derive(clap::Args)]
struct Options {
    /// The folder of `.feature` files to run (sub-folders included).
    /// Default: the workspace's `features/`.
    #[arg(value_name = "DIR")]
    features: Option<PathBuf>,
    /// Where `junit.xml` and `report.html` go. Default: `target/cucumber`
    /// under cargo, else `bbfeatures-report` in the current folder.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Files the steps write (settings with passwords above all) are the
    // user's alone, as the softphone requires of its settings file.
    // SAFETY: umask only sets the process's file mode mask.
    unsafe {
        libc::umask(0o077);
    }
    // Started again by the Q-4 crash scenario as the process that saves
    // the settings in a loop until it is killed (steps/settings_crash.rs).
    if let Ok(spec) = std::env::var(steps::settings_crash::SAVER_ENV) {
        steps::settings_crash::saver_child(&spec);
    }
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bbfeatures: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, String> {
    let opts = cli::Opts::<_, _, _, Options>::parsed();
    let root = conformance::procs::workspace_root();
    let features = match &opts.custom.features {
        Some(dir) => dir.clone(),
        None => root.join("features"),
    };
    if !features.is_dir() {
        return Err(format!(
            "{} is not a folder of .feature files; give the folder, e.g. `bbfeatures my-features/`",
            features.display()
        ));
    }
    let features = features.canonicalize().unwrap_or(features);
    check_steps(&features)?;
    // Said once, not once per scenario.
    conformance::procs::bin_dir()?;
    let out_dir = match &opts.custom.report_dir {
        Some(d) => d.clone(),
        None if std::env::var_os("CARGO").is_some() => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("cucumber"),
        None => PathBuf::from("bbfeatures-report"),
    };
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let junit_path = out_dir.join("junit.xml");
    let junit = std::fs::File::create(&junit_path)
        .map_err(|e| format!("cannot create {}: {e}", junit_path.display()))?;
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let writer = BbWorld::cucumber()
        .max_concurrent_scenarios(4)
        .fail_on_skipped()
        .before(|feature, _, _, world| {
            // A team's files are named relative to their feature file.
            world.feature_dir = feature
                .path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf);
            Box::pin(async {})
        })
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Never, 0)
                .summarized()
                .tee::<BbWorld, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        .with_cli(opts)
        .run(&features)
        .await;
    println!("bbfeatures: JUnit XML written to {}", junit_path.display());
    let ran = writer.passed_steps() + writer.failed_steps() + writer.skipped_steps();
    if ran == 0 && writer.parsing_errors() == 0 {
        // A filter that matches nothing would otherwise be a green run that
        // proved nothing.
        return Err(format!(
            "no scenario ran: the filter '{}' matches no scenario in {} \
             (tags are written @WEB-4, names are matched with --name REGEX)",
            filter.join(" "),
            features.display()
        ));
    }
    let report_path = out_dir.join("report.html");
    match report(&features, &junit_path) {
        Ok(html) => match std::fs::write(&report_path, html) {
            Ok(()) => println!(
                "bbfeatures: HTML report written to {}",
                report_path.display()
            ),
            Err(e) => eprintln!("bbfeatures: cannot write {}: {e}", report_path.display()),
        },
        Err(e) => eprintln!("bbfeatures: no HTML report: {e}"),
    }
    if writer.execution_has_failed() {
        // Say again, last, which scenarios failed and why: a CI log that shows
        // only its head and tail must still name them.
        let xml = std::fs::read_to_string(&junit_path)
            .map_err(|e| format!("cannot read {}: {e}", junit_path.display()))?;
        let failures = conformance::ledger::junit_failures(&xml);
        eprintln!("bbfeatures: {} scenario(s) failed:", failures.len());
        for (name, message) in failures {
            eprintln!("  FAILED {name}");
            for line in message.lines().take(12) {
                eprintln!("      {line}");
            }
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every step line of every feature under `dir` matches a step definition;
/// each one that does not is named with its closest catalogue entries. A
/// misspelt step is an error in the suite wherever it is, so this runs
/// before any scenario (and whatever the filter).
fn check_steps(dir: &Path) -> Result<(), String> {
    use conformance::catalogue;
    let steps = catalogue::steps()?;
    let matchers = steps
        .iter()
        .map(|s| s.pattern.regex())
        .collect::<Result<Vec<_>, _>>()?;
    let mut files = Vec::new();
    conformance::ledger::feature_files(dir, &mut files)?;
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let feature = match cucumber::gherkin::Feature::parse_path(
            &file,
            cucumber::gherkin::GherkinEnv::default(),
        ) {
            Ok(f) => f,
            // cucumber reports parse errors itself, with their position.
            Err(_) => continue,
        };
        for step in catalogue::step_lines(&feature) {
            if matchers.iter().any(|m| m.is_match(&step.text)) {
                continue;
            }
            let mut text = format!(
                "{}:{}: no step matches '{}{}'",
                file.display(),
                step.line,
                step.keyword,
                step.text
            );
            text.push_str("\n    closest in docs/steps.md:");
            for s in catalogue::closest(&steps, &step.text, 3) {
                text.push_str(&format!(
                    "\n      {} {}",
                    s.keyword.as_str(),
                    s.pattern.text()
                ));
            }
            problems.push(text);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} step(s) match no step definition:\n{}",
            problems.len(),
            problems.join("\n")
        ))
    }
}

/// The HTML report: per requirement when the folder has a
/// `requirements.toml` (as `features/` does), else per feature file.
fn report(features: &Path, junit: &Path) -> Result<String, String> {
    use conformance::ledger;
    let mut scenarios = ledger::scenarios(features)?;
    let requirements = if features.join("requirements.toml").is_file() {
        ledger::load(features)?
    } else {
        let mut by_file: Vec<ledger::Requirement> = Vec::new();
        for s in &mut scenarios {
            s.ids.insert(s.file.clone());
            if !by_file.iter().any(|r| r.id == s.file) {
                by_file.push(ledger::Requirement {
                    id: s.file.clone(),
                    statement: s.feature.clone(),
                    pending: None,
                });
            }
        }
        by_file
    };
    let xml = std::fs::read_to_string(junit)
        .map_err(|e| format!("cannot read {}: {e}", junit.display()))?;
    let outcomes = ledger::junit_outcomes(&xml);
    Ok(ledger::html_report(
        &requirements,
        &scenarios,
        &outcomes,
        &format!("BlueBean client conformance: {}", features.display()),
    ))
}
