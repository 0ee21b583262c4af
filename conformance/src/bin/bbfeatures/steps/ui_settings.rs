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

#[given("the settings file is noted as it is now")]
#[when("the settings file is noted as it is now")]
async fn note_settings(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    let bytes = std::fs::read(&s.settings_path)
        .map_err(|e| format!("cannot read {}: {e}", s.settings_path.display()))?;
    s.settings_before = Some(bytes);
    Ok(())
}

#[given("the settings file is readable by everyone")]
async fn settings_world_readable(w: &mut BbWorld) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let s = session(w)?;
    std::fs::set_permissions(&s.settings_path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("cannot chmod {}: {e}", s.settings_path.display()))
}

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

/// `key.path = value` as TOML reads it from the settings file (`{crm}`:
/// the mock CRM's base URL).
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

#[then("the settings file's folder can be written to again")]
async fn unlock_folder(w: &mut BbWorld) -> Result<(), String> {
    let s = session(w)?;
    s.locked = None;
    Ok(())
}

#[when(expr = "a softphone for extension {word} is started from the window's settings file")]
async fn phone_from_saved(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let path = session_ref(w)?.settings_path.clone();
    w.start_phone_from(&ext, &path).await
}

// ---------------------------------------------------------------------------
// Saved settings in the running core (WEB-7)
// ---------------------------------------------------------------------------

/// `{crm}` in the lines is the mock CRM's base URL.
#[when(expr = "the operator replaces the window's {string} field with the lines")]
async fn replace_field_lines(w: &mut BbWorld, step: &Step, label: String) -> Result<(), String> {
    let text = expand_settings(w, &super::docstring(step)?)?;
    let s = session(w)?;
    replace_text(s, &label, &text)
}

#[given(expr = "the simulator's contact of extension {word} is noted")]
async fn note_contact(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let contact = w.contact_of(&ext).await?;
    session(w)?.noted_contact = Some(contact);
    Ok(())
}

/// The binding is the one noted: the same SIP socket registered it, so
/// the softphone was not restarted (a new core binds a new port).
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

/// Replaces the text of the field labelled `label` in the settings window
/// (the main window may have a field of the same name, e.g. the operator
/// panel's Password).
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
