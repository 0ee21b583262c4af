//! Steps about the settings window and the settings file (UI-7, WEB-7,
//! what Save writes, that it is private and whole, and that the
//! running core takes what was saved.

use std::path::{Path, PathBuf};

use conformance::world::BbWorld;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use softphone::ui::i18n::Tr;

use super::ui::{
    clear_focused, expand_settings, is_field, replace_text, session, session_ref, settle, shown,
};

/// A directory nobody can create files in (even root: `chattr +i` when
/// running as root, `chmod 0555` otherwise), restored on drop.
pub struct LockedDir {
    dir: PathBuf,
    immutable: bool,
}

impl LockedDir {
    pub(super) fn lock(dir: &Path) -> Result<LockedDir, String> {
        if softphone::control::current_uid() == 0 {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .map_err(|e| format!("cannot run chattr: {e}"))?
                .success();
            if !ok {
                return Err(format!(
                    "chattr +i {} failed: running as root without CAP_LINUX_IMMUTABLE",
                    dir.display()
                ));
            }
            Ok(LockedDir {
                dir: dir.to_path_buf(),
                immutable: true,
            })
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555))
                .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
            Ok(LockedDir {
                dir: dir.to_path_buf(),
                immutable: false,
            })
        }
    }
}

impl Drop for LockedDir {
    fn drop(&mut self) {
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.dir)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
    }
}

// ---------------------------------------------------------------------------
// The settings file (UI-7, Q-4)
// ---------------------------------------------------------------------------

/// Notes the window's settings file, byte for byte, for a later "the settings file is
/// unchanged".
/// Fails if the operator's window is not open.
#[given("the settings file is noted as it is now")]
/// The same step as the Given of this name, for use between actions: notes the window's
/// settings file, byte for byte.
/// A later "the settings file is unchanged" compares with it.
#[when("the settings file is noted as it is now")]
async fn note_settings(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let bytes = std::fs::read(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    s.settings_before = Some(bytes);
    Ok(())
}

/// Makes the window's settings file readable by everyone (mode 644).
/// E.g. to check that the next save makes it private again.
#[given("the settings file is readable by everyone")]
async fn settings_world_readable(w: &mut BbWorld) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let s = session(w)?;
    std::fs::set_permissions(&s.settings_path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("cannot chmod {}: {e}", s.settings_path.display()))
}

/// Checks that the window's settings file is byte for byte as "the settings file is noted
/// as it is now" found it.
/// On failure shows both versions.
#[then("the settings file is unchanged")]
async fn settings_unchanged(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let before = s
        .settings_before
        .as_ref()
        .ok_or("no step noted the settings file before")?;
    let now = std::fs::read(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    if &now != before {
        return Err(format!(
            "the settings file changed:\n--- before\n{}\n--- now\n{}",
            String::from_utf8_lossy(before),
            String::from_utf8_lossy(&now)
        ));
    }
    Ok(())
}

/// Checks that the window's settings file, read as TOML, has the dotted key `key` (e.g.
/// `web.popup.url`) with the value `want`.
/// `{crm}` in `want` stands for the mock CRM's base URL. A value that is not a string is
/// compared as TOML writes it.
#[then(expr = "the settings file has {word} = {string}")]
async fn settings_has(w: &mut BbWorld, key: String, want: String) -> Result<(), String> {
    let want = expand_settings(w, &want)?;
    let s = session(w)?;
    let text = std::fs::read_to_string(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("the settings file is not TOML any more: {e}\n{text}"))?;
    let mut v = toml::Value::Table(doc);
    for part in key.split('.') {
        v = v
            .get(part)
            .cloned()
            .ok_or_else(|| format!("the settings file has no {key}:\n{text}"))?;
    }
    let got = match &v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if got != want {
        return Err(format!(
            "the settings file has {key} = {got:?}, not {want:?}:\n{text}"
        ));
    }
    Ok(())
}

/// Checks that the window's settings file has mode 600: only its owner can read or write
/// it.
/// Looks at once.
#[then("the settings file can be read and written by its owner alone")]
async fn settings_private(w: &mut BbWorld) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let s = session(w)?;
    let mode = std::fs::metadata(&s.settings_path)
        .map_err(|e| format!("cannot stat {}: {e}", s.settings_path.display()))?
        .permissions()
        .mode();
    if mode & 0o777 != 0o600 {
        return Err(format!(
            "the settings file has mode {:o}, not 600",
            mode & 0o777
        ));
    }
    Ok(())
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks, at once, that no temporary file of a save (a name holding `.tmp-`) is left in
/// the folder of the window's settings file.
/// Lists the files left otherwise.
#[then("no temporary file of the save is left beside the settings file")]
async fn no_temp(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let dir = s.settings_path.parent().ok_or("no directory")?;
    let left = temp_files(dir);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("temporary files left: {left:?}"))
    }
}

/// Makes the folder of the window's settings file unwritable, even for root, so that a
/// save there must fail.
/// "The settings file's folder can be written to again", or the end of the scenario,
/// undoes it.
#[given("the settings file's folder cannot be written to")]
async fn lock_folder(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let dir = s
        .settings_path
        .parent()
        .ok_or("no directory")?
        .to_path_buf();
    s.locked = Some(LockedDir::lock(&dir)?);
    Ok(())
}

/// Makes the folder of the window's settings file writable again, undoing "the settings
/// file's folder cannot be written to".
/// It checks nothing, though it is a Then step.
#[then("the settings file's folder can be written to again")]
async fn unlock_folder(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    s.locked = None;
    Ok(())
}

/// Starts a headless softphone for extension `ext` from the settings file the window
/// saved, and waits until it registered (up to 15 s).
/// Proves the saved file works for the shipped softphone.
#[when(expr = "a softphone for extension {word} is started from the window's settings file")]
async fn phone_from_saved(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let path = session_ref(w)?.settings_path.clone();
    w.start_phone_from(&ext, &path).await
}

// ---------------------------------------------------------------------------
// Saved settings in the running core (WEB-7)
// ---------------------------------------------------------------------------

/// Empties the first text field labelled `label` in the operator's window and types the
/// lines of the doc string into it.
/// `{crm}` in the lines stands for the mock CRM's base URL and `{recorder:NAME}` for an
/// argument recorder.
#[when(expr = "the operator replaces the window's {string} field with the lines")]
async fn replace_field_lines(w: &mut BbWorld, step: &Step, label: String) -> Result<(), String> {
    let text = expand_settings(w, &super::docstring(step)?)?;
    let s = session(w)?;
    replace_text(s, &label, &text)
}

/// Notes the address from which extension `ext` is registered at the simulator, for "…
/// still registered from the noted contact …".
/// Waits up to 15 s for a registration.
#[given(expr = "the simulator's contact of extension {word} is noted")]
async fn note_contact(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let contact = w.contact_of(&ext).await?;
    session(w)?.noted_contact = Some(contact);
    Ok(())
}

/// Checks that extension `ext` is still registered from the noted address, so the
/// softphone core was not restarted (a new one would register from a new port).
/// Waits up to 15 s for a registration.
#[then(
    expr = "extension {word} is still registered from the noted contact, so nothing was restarted"
)]
async fn same_contact(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let noted = session_ref(w)?
        .noted_contact
        .ok_or("no step noted the simulator's contact before")?;
    let now = w.contact_of(&ext).await?;
    if now != noted {
        return Err(format!(
            "extension {ext} is registered from {now} now, not from {noted}: the softphone was restarted"
        ));
    }
    Ok(())
}

/// Empties the text field labelled `label` in the settings window and types `text` into
/// it.
/// Only the settings window is searched, so a field of the same name in the main window
/// (e.g. the operator panel's Password) is left alone. Nothing in `text` is replaced.
#[when(expr = "the operator replaces the settings window's {string} field with {string}")]
async fn replace_settings_field(
    w: &mut BbWorld,
    label: String,
    text: String,
) -> Result<(), String> {
    let s = session(w)?;
    let title = Tr::new(s.harness.state().lang()).t("settings-title");
    for typed in [None, Some(text.as_str())] {
        let node = s
            .harness
            .query_all_by_role_and_label(Role::Window, &title)
            .find_map(|win| {
                win.query_all_by_label(&label)
                    .find(|n| is_field(n.accesskit_node().role()))
            })
            .ok_or_else(|| {
                format!(
                    "no text field labelled '{label}' in the settings window; the window shows:\n{}",
                    shown(&s.harness)
                )
            })?;
        node.focus();
        s.harness.run_ok();
        match typed {
            None => clear_focused(s),
            Some(t) => {
                s.harness.event(egui::Event::Text(t.into()));
                settle(s);
            }
        }
    }
    Ok(())
}
