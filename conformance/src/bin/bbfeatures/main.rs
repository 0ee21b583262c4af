//! Runs every `.feature` under `features/` against the real processes and
//! writes the JUnit report to `target/cucumber/junit.xml`.

mod steps;

use conformance::world::BbWorld;
use cucumber::writer::Stats as _;
use cucumber::{World as _, WriterExt as _, writer};

#[tokio::main]
async fn main() {
    // Started again by the Q-4 crash scenario as the process that saves
    // the settings in a loop until it is killed (steps/settings_crash.rs).
    if let Ok(spec) = std::env::var(steps::settings_crash::SAVER_ENV) {
        steps::settings_crash::saver_child(&spec);
    }
    let root = conformance::procs::workspace_root();
    let out_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("cucumber");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("conformance: cannot create {}: {e}", out_dir.display());
        std::process::exit(1);
    }
    let junit_path = out_dir.join("junit.xml");
    let junit = match std::fs::File::create(&junit_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("conformance: cannot create {}: {e}", junit_path.display());
            std::process::exit(1);
        }
    };
    let writer = BbWorld::cucumber()
        .max_concurrent_scenarios(4)
        .fail_on_skipped()
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Never, 0)
                .summarized()
                .tee::<BbWorld, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        .run(root.join("features"))
        .await;
    println!("conformance: JUnit XML written to {}", junit_path.display());
    let ran = writer.passed_steps() + writer.failed_steps() + writer.skipped_steps();
    if ran == 0 && writer.parsing_errors() == 0 {
        // A filter that matches nothing would otherwise be a green run that
        // proved nothing.
        let filter: Vec<String> = std::env::args().skip(1).collect();
        eprintln!(
            "conformance: no scenario ran: the filter '{}' matches no scenario in {} \
             (tags are written @WEB-4, names are matched with --name REGEX)",
            filter.join(" "),
            root.join("features").display()
        );
        std::process::exit(1);
    }
    let report_path = out_dir.join("report.html");
    match report(&root, &junit_path) {
        Ok(html) => match std::fs::write(&report_path, html) {
            Ok(()) => println!(
                "conformance: HTML report written to {}",
                report_path.display()
            ),
            Err(e) => eprintln!("conformance: cannot write {}: {e}", report_path.display()),
        },
        Err(e) => eprintln!("conformance: no HTML report: {e}"),
    }
    if writer.execution_has_failed() {
        // Say again, last, which scenarios failed and why: a CI log that shows
        // only its head and tail must still name them.
        match std::fs::read_to_string(&junit_path) {
            Ok(xml) => {
                let failures = conformance::ledger::junit_failures(&xml);
                eprintln!("conformance: {} scenario(s) failed:", failures.len());
                for (name, message) in failures {
                    eprintln!("  FAILED {name}");
                    for line in message.lines().take(12) {
                        eprintln!("      {line}");
                    }
                }
            }
            Err(e) => eprintln!("conformance: cannot read {}: {e}", junit_path.display()),
        }
        std::process::exit(1);
    }
}

/// The per-requirement HTML report from the ledger, the feature files and the
/// JUnit outcomes of this run.
fn report(root: &std::path::Path, junit: &std::path::Path) -> Result<String, String> {
    use conformance::ledger;
    let requirements = ledger::load(root)?;
    let scenarios = ledger::scenarios(root)?;
    let xml = std::fs::read_to_string(junit)
        .map_err(|e| format!("cannot read {}: {e}", junit.display()))?;
    let outcomes = ledger::junit_outcomes(&xml);
    Ok(ledger::html_report(
        &requirements,
        &scenarios,
        &outcomes,
        "BlueBean client conformance",
    ))
}
