//! Steps for a QA team's own scenarios: their settings file, their tenant
//! and their CRM (behind the harness's recording proxy).
//!
//! File names are relative to the feature file. In those files and in the
//! steps' texts, `${NAME}` is the environment variable `NAME` (a pipeline
//! passes its CRM's address this way), `{dir}` the scenario's scratch
//! folder and `{crm}` the CRM's base URL as the softphone must use it (the
//! mock CRM, or the recording proxy in front of the team's CRM). The harness
//! rewrites only what it must to run the softphone here (the server's
//! address, the ports, the scratch paths, the CRM's origin when it is
//! recorded, the browser) and says which keys it rewrote.

use std::path::{Path, PathBuf};

use conformance::procs::{Proc, addr_in, bin_dir};
use conformance::world::BbWorld;
use cucumber::given;

use conformance::vars::expand_env;

use super::cti::{expand, install_recorder, recorder_path, start_phone_config};
use super::web::link_default_browser;

/// A file named by a step: relative to the feature file's folder.
fn resolve(w: &BbWorld, name: &str) -> PathBuf {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match &w.feature_dir {
        Some(dir) => dir.join(path),
        None => path.to_path_buf(),
    }
}

/// Reads a team's file named by a step, with `${NAME}` expanded.
fn read_team_file(w: &BbWorld, name: &str, what: &str) -> Result<(PathBuf, String), String> {
    let path = resolve(w, name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the {what} {} ({e}); file names in steps are relative to the \
             feature file's folder",
            path.display()
        )
    })?;
    let text = expand_env(&text, &path.display().to_string())?;
    Ok((path, text))
}

/// What the harness tells about a team's file.
fn say(text: &str) {
    eprintln!("bbfeatures: {text}");
}

/// Starts the BlueBean simulator with your tenant file (extensions and their
/// SIP passwords, outside lines, queues, operators, campaigns) instead of the
/// built-in tenant, and the mock CRM beside it. `file` is relative to the
/// feature file (our own suite's tenants are in `../fixtures/sim/tenants/`). The tenant is checked first (`bluebean-sim --check`); an invalid one
/// fails the step with the simulator's message, which names the key. Only
/// the simulator's addresses are the harness's (loopback, free ports).
#[given(expr = "the BlueBean simulator runs the tenant {string}")]
async fn simulator_runs_tenant(w: &mut BbWorld, file: String) -> Result<(), String> {
    let (path, text) = read_team_file(w, &file, "tenant file")?;
    let copy = w.dir.join("tenant.toml");
    std::fs::write(&copy, &text).map_err(|e| format!("cannot write {}: {e}", copy.display()))?;
    let out = tokio::process::Command::new(bin_dir()?.join("bluebean-sim"))
        .arg("--config")
        .arg(&copy)
        .arg("--check")
        .output()
        .await
        .map_err(|e| format!("cannot run bluebean-sim --check: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr)
            .replace(&copy.display().to_string(), &path.display().to_string());
        return Err(format!(
            "the tenant file {} is not valid:\n{}",
            path.display(),
            why.trim()
        ));
    }
    w.start_servers_with(Some(&copy)).await?;
    say(&format!(
        "tenant {}: run as written (the simulator listens on {} for SIP, {} for its API)",
        path.display(),
        w.sip()?,
        w.api()?
    ));
    Ok(())
}

/// Puts the harness's recording proxy in front of your own CRM at `origin`
/// (`http://host:port`, or `${NAME}` from the environment) in place of the
/// mock CRM. Each request the softphone sends goes on unchanged to your CRM,
/// and your CRM's answer comes back unchanged; the proxy only records them,
/// so the CRM steps ("the CRM receives exactly this request for the call",
/// "the popup shows …") check what the softphone really sent and showed.
/// Settings files given later have their popup and detail URLs of that
/// origin pointed at the proxy. Fails at once when nothing listens at
/// `origin`. The mock CRM's own steps ("the mock CRM answers …") are refused
/// from then on.
#[given(expr = "our CRM at {string}, seen through the recording proxy")]
async fn our_crm(w: &mut BbWorld, origin: String) -> Result<(), String> {
    let origin = expand_env(&origin, "the step 'our CRM at …'")?;
    let url = url::Url::parse(&origin).map_err(|e| {
        format!("our CRM's address '{origin}' is not a URL ({e}); write it as http://host:port")
    })?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let target = format!("{host}:{port}");
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(&target),
    )
    .await
    .map_err(|_| format!("our CRM at {origin} does not accept a connection within 5 s"))?
    .map_err(|e| format!("our CRM at {origin} cannot be reached ({e}); start it before the run"))?;
    let mut cmd = tokio::process::Command::new(bin_dir()?.join("bluebean-sim"));
    cmd.args(["crm", "--listen", "127.0.0.1:0", "--forward"])
        .arg(&origin);
    let (proc, line) = Proc::start("recording proxy", cmd, Some("bluebean-sim crm ready")).await?;
    let addr = addr_in(&line, "http=")?;
    // The mock CRM (if any) stops; `{crm}` is the proxy from now on.
    w.crm = Some((proc, addr));
    w.crm_forward = Some(origin.trim_end_matches('/').to_string());
    say(&format!(
        "our CRM {origin} is recorded through the proxy at http://{addr}"
    ));
    Ok(())
}

/// Replaces your program `program` (as the `[command]` lines of your
/// settings file name it) by the harness's recorder, which writes down the
/// arguments it was started with and ends. Check them with "`NAME` is run
/// once with the arguments", where `NAME` is the program's file name
/// (`agent-tool` for `/opt/agent-tool/bin/agent-tool`). Give this step
/// before the settings file. Use it when the real program cannot run in the
/// pipeline; otherwise let it run and check what it leaves behind.
#[given(expr = "our program {string} is recorded instead of run")]
async fn program_recorded(w: &mut BbWorld, program: String) -> Result<(), String> {
    let program = expand_env(&program, "the step 'our program … is recorded'")?;
    if program.trim().is_empty() {
        return Err("name the program as the settings file's [command] lines do".into());
    }
    w.recorded_programs.push(program);
    Ok(())
}

/// The file name of a program path (`/opt/x/agent-tool` → `agent-tool`,
/// `C:\x\crm.exe` → `crm.exe`).
fn program_name(program: &str) -> String {
    program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(program)
        .to_string()
}

/// Starts a headless softphone from your own settings file (`file`,
/// relative to the feature file), for the extension its `[account] user`
/// names, and waits until it registered with the simulator. The harness
/// rewrites only: `[account] server` (the simulator), `transport` (udp),
/// `local_addr` and `outbound_proxy` (removed), `[operator] api_url` (the
/// simulator's API), `[history] path` (the scratch folder), popup and detail
/// URLs of a recorded CRM (the proxy), and `[web.detail] browser` (a
/// recording browser that fetches the page). It prints each key it rewrote.
/// An invalid file fails with the softphone's own message (the key and the
/// fix); an extension or password that the tenant does not have fails
/// before the softphone starts.
#[given(expr = "the softphone uses the settings file {string}")]
async fn softphone_uses_settings(w: &mut BbWorld, file: String) -> Result<(), String> {
    let (path, text) = read_team_file(w, &file, "settings file")?;
    let text = expand(w, &text).await?;
    let shown = path.display().to_string();
    let mut table: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("the settings file {shown} does not parse as TOML: {e}"))?;
    let ext = table
        .get("account")
        .and_then(|a| a.get("user"))
        .and_then(|u| u.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "the settings file {shown} has no [account] user: the harness starts the softphone \
                 of that extension; add e.g. user = \"1910\" under [account]"
            )
        })?;
    check_against_tenant(w, &table, &ext, &shown)?;
    let notes = rewrite(w, &mut table, &ext)?;
    let config = w.dir.join(format!("bbclient-{ext}.toml"));
    let out = toml::to_string(&table).map_err(|e| format!("cannot write the settings: {e}"))?;
    write_private(&config, &out)?;
    // The softphone's own check, with its own words (the key, the fix).
    if let Err(e) = softphone::config::Settings::load(&config) {
        let why = e.to_string().replace(&config.display().to_string(), &shown);
        return Err(format!("the settings file {shown} is refused: {why}"));
    }
    if notes.is_empty() {
        say(&format!("settings {shown}: used as written"));
    } else {
        say(&format!("settings {shown}: rewrote {}", notes.join("; ")));
    }
    start_phone_config(w, &ext, config, &[]).await
}

/// The settings file's extension and password must be the tenant's (else
/// the softphone would only time out registering).
fn check_against_tenant(
    w: &BbWorld,
    settings: &toml::Table,
    ext: &str,
    shown: &str,
) -> Result<(), String> {
    let tenant_shown = match &w.tenant {
        Some(t) => t.display().to_string(),
        None => "the built-in tenant".to_string(),
    };
    let tenant: toml::Table = match &w.tenant {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        // The built-in tenant's extensions have the password pw<EXT>.
        None => return Ok(()),
    };
    let entry = tenant
        .get("extensions")
        .and_then(|e| e.get(ext))
        .ok_or_else(|| {
            format!(
                "extension {ext} ([account] user in {shown}) is not in the tenant {tenant_shown}; \
                 add [extensions.{ext}] with its password there"
            )
        })?;
    let want = entry.get("password").and_then(|p| p.as_str());
    let have = settings
        .get("account")
        .and_then(|a| a.get("password"))
        .and_then(|p| p.as_str());
    if want != have {
        // Neither value is shown: they are secrets.
        return Err(format!(
            "the [account] password in {shown} is not the password of extension {ext} in the \
             tenant {tenant_shown}; make them the same"
        ));
    }
    Ok(())
}

/// Rewrites what must point at this run; returns a note per key.
fn rewrite(w: &BbWorld, table: &mut toml::Table, ext: &str) -> Result<Vec<String>, String> {
    use toml::Value;
    let mut notes = Vec::new();
    let sip = w.sip()?.to_string();
    if let Some(account) = table.get_mut("account").and_then(Value::as_table_mut) {
        let old = account
            .get("server")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if old != sip {
            account.insert("server".into(), Value::String(sip.clone()));
            notes.push(format!("account.server ({old:?} → {sip})"));
        }
        if let Some(t) = account.get("transport").and_then(Value::as_str)
            && !t.eq_ignore_ascii_case("udp")
        {
            let t = t.to_string();
            account.insert("transport".into(), Value::String("udp".into()));
            notes.push(format!(
                "account.transport ({t:?} → \"udp\", the simulator's)"
            ));
        }
        for key in ["local_addr", "outbound_proxy"] {
            if account.remove(key).is_some() {
                notes.push(format!("account.{key} (removed)"));
            }
        }
    }
    if let Some(op) = table.get_mut("operator").and_then(Value::as_table_mut)
        && op.contains_key("api_url")
    {
        op.insert("api_url".into(), Value::String(w.api()?));
        notes.push("operator.api_url (→ the simulator's API)".into());
    }
    if let Some(h) = table.get_mut("history").and_then(Value::as_table_mut)
        && h.contains_key("path")
    {
        let p = w.dir.join(format!("history-{ext}.sqlite3"));
        h.insert("path".into(), Value::String(p.display().to_string()));
        notes.push("history.path (→ the scenario's folder)".into());
    }
    let proxy = match (&w.crm_forward, &w.crm) {
        (Some(origin), Some((_, addr))) => Some((origin.clone(), format!("http://{addr}"))),
        _ => None,
    };
    if let Some(cmd) = table.get_mut("command").and_then(Value::as_table_mut) {
        for key in ["on_ring", "on_answer", "on_hangup"] {
            let Some(line) = cmd.get(key).and_then(Value::as_str) else {
                continue;
            };
            let Some(program) = w.recorded_programs.iter().find(|p| {
                line.strip_prefix(p.as_str())
                    .or_else(|| line.strip_prefix(&format!("\"{p}\"")))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            }) else {
                continue;
            };
            let quoted = format!("\"{program}\"");
            let rest = line
                .strip_prefix(&quoted)
                .or_else(|| line.strip_prefix(program.as_str()))
                .unwrap_or_default()
                .to_string();
            let recorder = recorder_path(w, &program_name(program));
            install_recorder(&recorder)?;
            cmd.insert(
                key.into(),
                Value::String(format!("{}{rest}", recorder.display())),
            );
            notes.push(format!("command.{key} ({program} → a recorder)"));
        }
    }
    let browser = link_default_browser(w)?;
    if let Some(web) = table.get_mut("web").and_then(Value::as_table_mut) {
        for kind in ["popup", "detail"] {
            let Some(t) = web.get_mut(kind).and_then(Value::as_table_mut) else {
                continue;
            };
            if let (Some((origin, proxy)), Some(url)) =
                (&proxy, t.get("url").and_then(Value::as_str))
                && let Some(rest) = url.strip_prefix(origin.as_str())
                && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            {
                let new = format!("{proxy}{rest}");
                t.insert("url".into(), Value::String(new));
                notes.push(format!("web.{kind}.url ({origin} → the recording proxy)"));
            }
            if kind == "detail" {
                let old = t
                    .get("browser")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                t.insert(
                    "browser".into(),
                    Value::String(format!("{} --rec-fetch", browser.display())),
                );
                notes.push(format!(
                    "web.detail.browser ({old:?} → a recording browser that fetches the page)"
                ));
            }
        }
    }
    Ok(notes)
}

/// Writes a settings file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
