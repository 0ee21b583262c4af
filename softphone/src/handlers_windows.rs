//! Registering `bbclient.exe` as the handler of `callto:`, `bbclient:`,
//! `tel:` and `sip:` links on Windows (URI-3), per user, under
//! `HKEY_CURRENT_USER\Software\Classes`, as `docs/windows-uri-handlers.md`
//! designs; no administrator rights are needed.
//!
//! For each scheme `S`: `Software\Classes\S` (`URL:S Protocol`, an empty
//! `URL Protocol`, our marker `BBClientInstance`), its `DefaultIcon` and its
//! `shell\open\command`, `"EXE" --instance NAME [--config "FILE"] "%1"`:
//! the URI reaches the program as one argument, never through `cmd.exe`.
//! Beside them the candidate registration Windows' default-apps settings
//! offer: the ProgID `BlueBean.bbclient.Url`, `Software\BlueBean\bbclient\
//! Capabilities` with its `URLAssociations`, and the `BlueBean softphone`
//! value under `Software\RegisteredApplications`.
//!
//! `--uninstall` deletes the scheme keys that carry our marker (a key
//! another program wrote is left alone), the ProgID, our Capabilities and
//! the RegisteredApplications value. A handler we replaced is not given
//! back (Windows falls back to the machine-wide one in `HKLM`, if any).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_SUCCESS};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_CURRENT_USER, KEY_READ, KEY_WRITE, REG_OPTION_NON_VOLATILE, REG_SZ, RRF_RT_REG_SZ,
    RegCloseKey, RegCreateKeyExW, RegDeleteKeyValueW, RegDeleteTreeW, RegGetValueW, RegSetValueExW,
};

use crate::platform::wide;

/// The URI schemes registered (the SPEC's URI-3 decision).
pub const SCHEMES: [&str; 4] = ["callto", "bbclient", "tel", "sip"];

/// Our ProgID, the candidate Windows offers in its default-apps settings.
pub const PROG_ID: &str = "BlueBean.bbclient.Url";
/// Our application key (under `HKCU`).
pub const APP_KEY: &str = r"Software\BlueBean\bbclient";
/// The value under `Software\RegisteredApplications`.
pub const REGISTERED_NAME: &str = "BlueBean softphone";
/// The value that marks a scheme key as ours and names its instance.
const MARKER: &str = "BBClientInstance";

pub use crate::desktop_entry::quote_exec_arg;

/// Where the keys go: Windows has one place per user (`HKCU`). The user's
/// roaming folder is kept for the window's preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `%APPDATA%`.
    pub config_home: PathBuf,
}

impl Layout {
    /// Reads `%APPDATA%` through `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Layout, String> {
        env("APPDATA")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|config_home| Layout { config_home })
            .ok_or_else(|| {
                "cannot find your APPDATA folder: set APPDATA to an absolute path".into()
            })
    }
}

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The program the links run (this binary), absolute.
    pub exe: PathBuf,
    /// The instance the links talk to.
    pub instance: String,
    /// The settings file a link uses to start a softphone, if given.
    pub config: Option<PathBuf>,
    /// Where to install.
    pub layout: Layout,
}

/// `"EXE" --instance NAME [--config "FILE"] "%1"`: the program and the
/// settings file quoted (they may hold spaces; Windows paths cannot hold
/// `"`), the URI as one quoted argument.
pub fn command_line(exe: &Path, instance: &str, config: Option<&Path>) -> Result<String, String> {
    super::control::check_instance(instance)?;
    let quoted = |p: &Path, what: &str| {
        let s = p
            .to_str()
            .ok_or_else(|| format!("{what} '{}' is not valid Unicode", p.display()))?;
        if s.contains('"') || !p.is_absolute() {
            return Err(format!(
                "{what} '{s}' must be an absolute path without '\"'"
            ));
        }
        Ok(format!("\"{s}\""))
    };
    let mut line = format!("{} --instance {instance}", quoted(exe, "the program")?);
    if let Some(c) = config {
        line.push_str(&format!(" --config {}", quoted(c, "the settings file")?));
    }
    line.push_str(" \"%1\"");
    Ok(line)
}

/// An open registry key, closed when dropped.
struct Key(HKEY);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: we own the key handle.
        unsafe {
            RegCloseKey(self.0);
        }
    }
}

fn os_error(code: u32) -> std::io::Error {
    std::io::Error::from_raw_os_error(code as i32)
}

/// Creates (or opens) `HKCU\path`.
fn create_key(path: &str) -> Result<Key, String> {
    let name = wide(path);
    let mut key: HKEY = null_mut();
    // SAFETY: a NUL-terminated name and a pointer to a local.
    let rc = unsafe {
        RegCreateKeyExW(
            HKEY_CURRENT_USER,
            name.as_ptr(),
            0,
            null(),
            REG_OPTION_NON_VOLATILE,
            KEY_READ | KEY_WRITE,
            null(),
            &mut key,
            null_mut(),
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(format!(
            "cannot create the registry key HKCU\\{path}: {}",
            os_error(rc)
        ));
    }
    Ok(Key(key))
}

/// Sets the string value `name` (`None`: the key's default) of `HKCU\path`.
fn set_string(path: &str, name: Option<&str>, value: &str) -> Result<(), String> {
    let key = create_key(path)?;
    let name_w = name.map(wide);
    let data = wide(value);
    // SAFETY: NUL-terminated strings; the size is in bytes, NUL included.
    let rc = unsafe {
        RegSetValueExW(
            key.0,
            name_w.as_ref().map_or(null(), |n| n.as_ptr()),
            0,
            REG_SZ,
            data.as_ptr().cast(),
            (data.len() * 2) as u32,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(format!(
            "cannot set {} of HKCU\\{path}: {}",
            name.unwrap_or("the default value"),
            os_error(rc)
        ));
    }
    Ok(())
}

/// The string value `name` of `HKCU\path`, if there is one.
fn get_string(path: &str, name: Option<&str>) -> Option<String> {
    let path_w = wide(path);
    let name_w = name.map(wide);
    let mut buf = vec![0u16; 2048];
    let mut len = (buf.len() * 2) as u32;
    // SAFETY: NUL-terminated strings; the buffer's size is in bytes.
    let rc = unsafe {
        RegGetValueW(
            HKEY_CURRENT_USER,
            path_w.as_ptr(),
            name_w.as_ref().map_or(null(), |n| n.as_ptr()),
            RRF_RT_REG_SZ,
            null_mut(),
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != ERROR_SUCCESS {
        return None;
    }
    let chars = (len as usize / 2).min(buf.len());
    buf.truncate(chars);
    while buf.last() == Some(&0) {
        buf.pop();
    }
    Some(String::from_utf16_lossy(&buf))
}

/// Deletes `HKCU\path` and everything under it; a missing key is fine.
fn delete_tree(path: &str) -> Result<(), String> {
    let name = wide(path);
    // SAFETY: a NUL-terminated name.
    let rc = unsafe { RegDeleteTreeW(HKEY_CURRENT_USER, name.as_ptr()) };
    if rc != ERROR_SUCCESS && rc != ERROR_FILE_NOT_FOUND {
        return Err(format!(
            "cannot delete the registry key HKCU\\{path}: {}",
            os_error(rc)
        ));
    }
    Ok(())
}

fn classes(sub: &str) -> String {
    format!(r"Software\Classes\{sub}")
}

/// Writes the keys; `say` receives one line per step for the operator.
pub fn install(opts: &InstallOptions, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let command = command_line(&opts.exe, &opts.instance, opts.config.as_deref())?;
    let exe = opts.exe.display().to_string();
    let icon = format!("\"{exe}\",0");
    for scheme in SCHEMES {
        let key = classes(scheme);
        if let Some(old) = get_string(&format!(r"{key}\shell\open\command"), None)
            && get_string(&key, Some(MARKER)).is_none()
        {
            say(format!(
                "{scheme}: links were opened by {old}; they are now opened by bbclient"
            ));
        }
        set_string(&key, None, &format!("URL:{scheme} Protocol"))?;
        set_string(&key, Some("URL Protocol"), "")?;
        set_string(&key, Some(MARKER), &opts.instance)?;
        set_string(&format!(r"{key}\DefaultIcon"), None, &icon)?;
        set_string(&format!(r"{key}\shell\open\command"), None, &command)?;
    }
    let prog = classes(PROG_ID);
    set_string(&prog, None, "BlueBean softphone link")?;
    set_string(&prog, Some("URL Protocol"), "")?;
    set_string(&format!(r"{prog}\DefaultIcon"), None, &icon)?;
    set_string(&format!(r"{prog}\shell\open\command"), None, &command)?;
    let caps = format!(r"{APP_KEY}\Capabilities");
    set_string(&caps, Some("ApplicationName"), REGISTERED_NAME)?;
    set_string(
        &caps,
        Some("ApplicationDescription"),
        "Dials callto:, bbclient:, tel: and sip: links",
    )?;
    for scheme in SCHEMES {
        set_string(&format!(r"{caps}\URLAssociations"), Some(scheme), PROG_ID)?;
    }
    set_string(
        r"Software\RegisteredApplications",
        Some(REGISTERED_NAME),
        &caps,
    )?;
    say(format!(
        "registered {} for {} links (HKEY_CURRENT_USER\\Software\\Classes): {command}",
        exe,
        SCHEMES.join(":, ") + ":"
    ));
    say(
        "Windows may still ask which program opens tel:, callto: and sip: links the first time \
         (Settings > Apps > Default apps > Choose defaults by link type)"
            .into(),
    );
    Ok(())
}

/// Removes what [`install`] wrote, leaving scheme keys another program
/// owns.
pub fn uninstall(_layout: &Layout, say: &mut dyn FnMut(String)) -> Result<(), String> {
    for scheme in SCHEMES {
        let key = classes(scheme);
        if get_string(&key, Some(MARKER)).is_some() {
            delete_tree(&key)?;
            say(format!("{scheme}: removed HKCU\\{key}"));
        } else if get_string(&format!(r"{key}\shell\open\command"), None).is_some() {
            say(format!(
                "{scheme}: left HKCU\\{key}, which another program wrote"
            ));
        }
    }
    delete_tree(&classes(PROG_ID))?;
    delete_tree(APP_KEY)?;
    let parent = wide(r"Software\RegisteredApplications");
    let value = wide(REGISTERED_NAME);
    // SAFETY: NUL-terminated strings.
    let rc = unsafe { RegDeleteKeyValueW(HKEY_CURRENT_USER, parent.as_ptr(), value.as_ptr()) };
    if rc != ERROR_SUCCESS && rc != ERROR_FILE_NOT_FOUND {
        return Err(format!(
            "cannot delete the value '{REGISTERED_NAME}' of HKCU\\Software\\RegisteredApplications: {}",
            os_error(rc)
        ));
    }
    say("removed bbclient's link handlers".into());
    Ok(())
}
