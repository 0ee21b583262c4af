//! Registering `bbclient` with the desktop as the handler of `callto:`,
//! `bbclient:`, `tel:` and `sip:` links (URI-3), and unregistering it.
//!
//! `bbclient install-handlers` writes a Desktop Entry, `bbclient.desktop`, in
//! `$XDG_DATA_HOME/applications` (default `~/.local/share/applications`)
//! whose `Exec` line runs this very binary, by absolute path, with the
//! instance (and the settings file, when one was given): a clicked link
//! becomes `bbclient --instance NAME 'bbclient:call:1330'`, which forwards the
//! verb to the running softphone (see [`crate::control`]). The entry is
//! checked with `desktop-file-validate` when that is installed, and made the
//! default for the four schemes with `xdg-mime default` (or, without
//! xdg-utils, by editing `$XDG_CONFIG_HOME/mimeapps.list` the same way).
//! `--uninstall` removes the entry and the associations naming it, and gives
//! back the handlers it had replaced.
//!
//! The principal pieces are pure and tested on their own: [`exec_line`]
//! (quoting by the Desktop Entry specification), [`desktop_entry`],
//! [`with_default`] and [`without_handler`] (mimeapps.list edits that leave
//! every other line alone). [`install`] and [`uninstall`] do the I/O.
//!
//! Windows keeps the same associations in the registry; the layout is in
//! `docs/windows-uri-handlers.md`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The desktop file's name, which is also its id in mimeapps.list.
pub const DESKTOP_ID: &str = "bbclient.desktop";

/// The URI schemes registered (the SPEC's URI-3 decision).
pub const SCHEMES: [&str; 4] = ["callto", "bbclient", "tel", "sip"];

/// The key that marks a desktop file as ours and names its instance.
const INSTANCE_KEY: &str = "X-BBClient-Instance";
/// The key that remembers the handlers an install replaced, as
/// `scheme:desktop-id;`.
const REPLACED_KEY: &str = "X-BBClient-Replaced";

/// The MIME type of a scheme handler, e.g. `x-scheme-handler/tel`.
pub fn mime(scheme: &str) -> String {
    format!("x-scheme-handler/{scheme}")
}

/// Where the desktop files and associations live, from the XDG variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `$XDG_DATA_HOME`, default `~/.local/share`.
    pub data_home: PathBuf,
    /// `$XDG_CONFIG_HOME`, default `~/.config`.
    pub config_home: PathBuf,
}

impl Layout {
    /// Reads the layout from environment variables through `env`; relative
    /// values are ignored, as the XDG Base Directory specification asks.
    pub fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Layout, String> {
        let abs = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
        let home = abs("HOME");
        let pick = |name: &str, default: &str| {
            abs(name)
                .or_else(|| home.as_ref().map(|h| h.join(default)))
                .ok_or_else(|| {
                    format!("cannot find your {name}: set HOME or {name} to an absolute path")
                })
        };
        Ok(Layout {
            data_home: pick("XDG_DATA_HOME", ".local/share")?,
            config_home: pick("XDG_CONFIG_HOME", ".config")?,
        })
    }

    /// `$XDG_DATA_HOME/applications`.
    pub fn applications(&self) -> PathBuf {
        self.data_home.join("applications")
    }

    /// The desktop file.
    pub fn desktop_file(&self) -> PathBuf {
        self.applications().join(DESKTOP_ID)
    }

    /// `$XDG_CONFIG_HOME/mimeapps.list`, where defaults are set.
    pub fn mimeapps(&self) -> PathBuf {
        self.config_home.join("mimeapps.list")
    }

    /// Every mimeapps.list an association may have been written to: the
    /// current one and the deprecated `$XDG_DATA_HOME/applications` one.
    pub fn all_mimeapps(&self) -> [PathBuf; 2] {
        [self.mimeapps(), self.applications().join("mimeapps.list")]
    }
}

pub use crate::desktop_entry::quote_exec_arg;

/// Escapes a string value of a desktop file: `\` becomes `\\`.
fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\")
}

fn utf8_path<'a>(p: &'a Path, what: &str) -> Result<&'a str, String> {
    let s = p.to_str().ok_or_else(|| {
        format!(
            "{what} {} is not UTF-8, which a desktop file cannot hold (move it to a UTF-8 path)",
            p.display()
        )
    })?;
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{what} {} contains the control character U+{:04X}, which a desktop file cannot hold",
            s.escape_debug(),
            u32::from(c)
        ));
    }
    if !p.is_absolute() {
        return Err(format!("{what} {s} is not an absolute path"));
    }
    Ok(s)
}

/// The `Exec` value (already string-escaped): `EXE --instance NAME
/// [--config FILE] %u`.
pub fn exec_line(exe: &Path, instance: &str, config: Option<&Path>) -> Result<String, String> {
    crate::control::check_instance(instance)?;
    let mut words = vec![
        quote_exec_arg(utf8_path(exe, "the program")?),
        "--instance".to_string(),
        quote_exec_arg(instance),
    ];
    if let Some(config) = config {
        words.push("--config".into());
        words.push(quote_exec_arg(utf8_path(config, "the settings file")?));
    }
    words.push("%u".into());
    Ok(escape_value(&words.join(" ")))
}

/// The desktop file's text. `replaced` lists `(scheme, desktop id)` of the
/// handlers this install took over, to give back on uninstall.
pub fn desktop_entry(
    exe: &Path,
    instance: &str,
    config: Option<&Path>,
    replaced: &[(String, String)],
) -> Result<String, String> {
    let exec = exec_line(exe, instance, config)?;
    let mimes: String = SCHEMES.iter().map(|s| format!("{};", mime(s))).collect();
    let mut text = format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Version=1.4\n\
         Name=BlueBean softphone\n\
         GenericName=Softphone\n\
         Comment=Dial callto:, bbclient:, tel: and sip: links with the running BlueBean softphone\n\
         Exec={exec}\n\
         Terminal=false\n\
         NoDisplay=true\n\
         Categories=Network;Telephony;\n\
         MimeType={mimes}\n\
         {INSTANCE_KEY}={instance}\n"
    );
    if !replaced.is_empty() {
        let list: String = replaced
            .iter()
            .map(|(scheme, id)| format!("{scheme}:{};", escape_value(id)))
            .collect();
        text.push_str(&format!("{REPLACED_KEY}={list}\n"));
    }
    Ok(text)
}

/// Reads `key=value` from the `[Desktop Entry]` group of a desktop file.
fn entry_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut in_entry = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('[') {
            in_entry = line == "[Desktop Entry]";
            continue;
        }
        if in_entry
            && let Some((k, v)) = line.split_once('=')
            && k.trim_end() == key
        {
            return Some(v.trim_start());
        }
    }
    None
}

/// The handlers an existing desktop file of ours says it replaced.
fn replaced_in(text: &str) -> Vec<(String, String)> {
    entry_value(text, REPLACED_KEY)
        .unwrap_or("")
        .split(';')
        .filter_map(|item| {
            let (scheme, id) = item.split_once(':')?;
            (SCHEMES.contains(&scheme) && id.ends_with(".desktop") && !id.contains(['/', '\\']))
                .then(|| (scheme.to_string(), id.to_string()))
        })
        .collect()
}

const SECTIONS: [&str; 2] = ["[Default Applications]", "[Added Associations]"];

/// mimeapps.list with `desktop_id` removed from the values of `mimes` in
/// the `[Default Applications]` and `[Added Associations]` groups; a line
/// left with no value goes. Every other line is kept as it was.
pub fn without_handler(text: &str, desktop_id: &str, mimes: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_section = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.starts_with('[') {
            in_section = SECTIONS.contains(&bare.trim());
            out.push_str(line);
            continue;
        }
        if in_section
            && let Some((key, value)) = bare.split_once('=')
            && mimes.iter().any(|m| m == key.trim())
        {
            let kept: Vec<&str> = value
                .split(';')
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != desktop_id)
                .collect();
            if kept.is_empty() {
                continue;
            }
            out.push_str(&format!("{}={};\n", key.trim(), kept.join(";")));
            continue;
        }
        out.push_str(line);
    }
    out
}

/// mimeapps.list with `desktop_id` as the default for `mime_type` (first in
/// its `[Default Applications]` line, the group created when missing).
pub fn with_default(text: &str, mime_type: &str, desktop_id: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_defaults = false;
    let mut done = false;
    let line_for = || format!("{mime_type}={desktop_id};\n");
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.starts_with('[') {
            if in_defaults && !done {
                out.push_str(&line_for());
                done = true;
            }
            in_defaults = bare.trim() == "[Default Applications]";
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
            continue;
        }
        if in_defaults
            && let Some((key, _)) = bare.split_once('=')
            && key.trim() == mime_type
        {
            if !done {
                out.push_str(&line_for());
                done = true;
            }
            continue;
        }
        out.push_str(line);
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !in_defaults {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("[Default Applications]\n");
        }
        out.push_str(&line_for());
    }
    out
}

/// The default handler of `mime_type` in a mimeapps.list text, if set.
pub fn default_in(text: &str, mime_type: &str) -> Option<String> {
    let mut in_defaults = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('[') {
            in_defaults = line.trim() == "[Default Applications]";
            continue;
        }
        if in_defaults
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == mime_type
        {
            return value
                .split(';')
                .map(str::trim)
                .find(|v| !v.is_empty())
                .map(str::to_string);
        }
    }
    None
}

/// A program on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| {
                std::fs::metadata(p)
                    .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
            })
    })
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("cannot set the mode of {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace {}: {e}", path.display())
    })
}

fn read_or_empty(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Runs a helper program; `Err` holds its output on failure, in one line.
fn run(program: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text.trim().to_string())
    } else {
        Err(format!(
            "{} {} failed ({}): {}",
            program.display(),
            args.join(" "),
            out.status,
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
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

/// The current default handler of a scheme, as the desktop resolves it.
fn current_default(layout: &Layout, xdg_mime: Option<&Path>, scheme: &str) -> Option<String> {
    match xdg_mime {
        Some(x) => run(x, &["query", "default", &mime(scheme)])
            .ok()
            .filter(|s| s.ends_with(".desktop")),
        None => read_or_empty(&layout.mimeapps())
            .ok()
            .and_then(|t| default_in(&t, &mime(scheme))),
    }
}

/// Installs the desktop file and makes it the default handler of
/// [`SCHEMES`]; `say` receives one line per step for the operator.
pub fn install(opts: &InstallOptions, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let path = opts.layout.desktop_file();
    let xdg_mime = find_program("xdg-mime");
    // Remember whom we replace (keeping what an earlier install recorded).
    let mut replaced = match std::fs::read_to_string(&path) {
        Ok(old) if entry_value(&old, INSTANCE_KEY).is_some() => replaced_in(&old),
        _ => Vec::new(),
    };
    for scheme in SCHEMES {
        if replaced.iter().any(|(s, _)| s == scheme) {
            continue;
        }
        if let Some(id) = current_default(&opts.layout, xdg_mime.as_deref(), scheme)
            && id != DESKTOP_ID
        {
            replaced.push((scheme.to_string(), id));
        }
    }
    let config = match &opts.config {
        Some(c) => Some(std::path::absolute(c).map_err(|e| {
            format!(
                "cannot make the settings path '{}' absolute: {e}",
                c.display()
            )
        })?),
        None => None,
    };
    let text = desktop_entry(&opts.exe, &opts.instance, config.as_deref(), &replaced)?;
    write_atomic(&path, &text)?;
    say(format!("wrote {}", path.display()));

    match find_program("desktop-file-validate") {
        Some(validate) => {
            let path_str = path.to_string_lossy();
            if let Err(e) = run(&validate, &[&path_str]) {
                let _ = std::fs::remove_file(&path);
                return Err(format!(
                    "the desktop file was refused, so it was removed: {e}"
                ));
            }
            say("desktop-file-validate: ok".into());
        }
        None => {
            say("desktop-file-validate is not installed; the desktop file was not validated".into())
        }
    }

    let mimes: Vec<String> = SCHEMES.iter().map(|s| mime(s)).collect();
    match &xdg_mime {
        Some(x) => {
            let mut args = vec!["default", DESKTOP_ID];
            args.extend(mimes.iter().map(String::as_str));
            run(x, &args)?;
            for scheme in SCHEMES {
                let now = current_default(&opts.layout, Some(x), scheme).unwrap_or_default();
                if now != DESKTOP_ID {
                    say(format!(
                        "warning: xdg-mime still names '{now}' for {scheme}: links (your desktop's own settings may override mimeapps.list)"
                    ));
                }
            }
            say(format!("xdg-mime default {DESKTOP_ID} {}", mimes.join(" ")));
        }
        None => {
            let file = opts.layout.mimeapps();
            let mut text = read_or_empty(&file)?;
            for m in &mimes {
                text = with_default(&text, m, DESKTOP_ID);
            }
            write_atomic(&file, &text)?;
            say(format!(
                "xdg-mime is not installed; set the defaults in {}",
                file.display()
            ));
        }
    }
    refresh_database(&opts.layout, say);
    if !replaced.is_empty() {
        say(format!(
            "replaced handlers, given back by --uninstall: {}",
            replaced
                .iter()
                .map(|(s, id)| format!("{s}: {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    say(format!(
        "callto:, bbclient:, tel: and sip: links now run: {}",
        exec_line(&opts.exe, &opts.instance, config.as_deref())?.replace("\\\\", "\\")
    ));
    Ok(())
}

/// Removes the desktop file (only if it is ours) and every association
/// naming it; gives back the handlers it replaced when they still exist.
pub fn uninstall(layout: &Layout, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let path = layout.desktop_file();
    let mut replaced = Vec::new();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            if entry_value(&text, INSTANCE_KEY).is_none() {
                return Err(format!(
                    "{} was not written by bbclient install-handlers; refusing to remove it (remove it yourself)",
                    path.display()
                ));
            }
            replaced = replaced_in(&text);
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            say(format!("removed {}", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            say(format!("{} was not installed", path.display()));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mimes: Vec<String> = SCHEMES.iter().map(|s| mime(s)).collect();
    for file in layout.all_mimeapps() {
        let text = read_or_empty(&file)?;
        let mut new = without_handler(&text, DESKTOP_ID, &mimes);
        for (scheme, id) in &replaced {
            let m = mime(scheme);
            if default_in(&new, &m).is_none()
                && file == layout.mimeapps()
                && desktop_file_exists(layout, id)
            {
                new = with_default(&new, &m, id);
                say(format!("gave {scheme}: links back to {id}"));
            }
        }
        if new != text {
            write_atomic(&file, &new)?;
            say(format!(
                "removed the bbclient associations from {}",
                file.display()
            ));
        }
    }
    refresh_database(layout, say);
    Ok(())
}

/// Whether a desktop file with this id exists in the data directories.
fn desktop_file_exists(layout: &Layout, id: &str) -> bool {
    let system = std::env::var_os("XDG_DATA_DIRS")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from("/usr/local/share:/usr/share"));
    std::iter::once(layout.data_home.clone())
        .chain(std::env::split_paths(&system))
        .any(|d| d.join("applications").join(id).is_file())
}

/// Updates `mimeinfo.cache` (read by GLib-based desktops) when
/// `update-desktop-database` is installed.
fn refresh_database(layout: &Layout, say: &mut dyn FnMut(String)) {
    if let Some(update) = find_program("update-desktop-database") {
        let dir = layout.applications();
        if dir.is_dir()
            && let Err(e) = run(&update, &[&dir.to_string_lossy()])
        {
            say(format!("warning: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_arguments_stay_bare() {
        assert_eq!(quote_exec_arg("/usr/bin/bbclient"), "/usr/bin/bbclient");
        assert_eq!(quote_exec_arg("ext-1910.a_b"), "ext-1910.a_b");
    }

    #[test]
    fn reserved_characters_are_quoted_and_escaped() {
        assert_eq!(
            quote_exec_arg("/opt/Blue Bean/bbclient"),
            "\"/opt/Blue Bean/bbclient\""
        );
        assert_eq!(quote_exec_arg("/a$b"), "\"/a\\$b\"");
        assert_eq!(quote_exec_arg("/a\"b`c\\d"), "\"/a\\\"b\\`c\\\\d\"");
        assert_eq!(quote_exec_arg("/a'b"), "\"/a'b\"");
        assert_eq!(quote_exec_arg("/100%/x"), "/100%%/x");
        assert_eq!(quote_exec_arg("/100% x"), "\"/100%% x\"");
        assert_eq!(quote_exec_arg(""), "\"\"");
    }

    #[test]
    fn the_exec_line_is_string_escaped_after_quoting() {
        let line = exec_line(Path::new("/opt/a\\b/bbclient"), "default", None).expect("valid");
        // Quoting gives "/opt/a\\b/bbclient"; the string escape doubles again.
        assert_eq!(line, "\"/opt/a\\\\\\\\b/bbclient\" --instance default %u");
        let line = exec_line(
            Path::new("/usr/bin/bbclient"),
            "ext1910",
            Some(Path::new("/home/op/My Settings/bb.toml")),
        )
        .expect("valid");
        assert_eq!(
            line,
            "/usr/bin/bbclient --instance ext1910 --config \"/home/op/My Settings/bb.toml\" %u"
        );
    }

    #[test]
    fn bad_paths_and_instances_are_refused() {
        let e = exec_line(Path::new("bbclient"), "default", None).expect_err("relative");
        assert!(e.contains("not an absolute path"), "{e}");
        let e = exec_line(Path::new("/a\nb"), "default", None).expect_err("newline");
        assert!(e.contains("U+000A"), "{e}");
        let e = exec_line(Path::new("/usr/bin/bbclient"), "a b", None).expect_err("instance");
        assert!(e.starts_with("instance name"), "{e}");
    }

    #[test]
    fn the_entry_names_the_four_schemes_and_the_instance() {
        let text = desktop_entry(
            Path::new("/usr/bin/bbclient"),
            "default",
            None,
            &[("tel".into(), "skype.desktop".into())],
        )
        .expect("valid");
        assert!(text.starts_with("[Desktop Entry]\n"));
        assert!(text.contains(
            "\nMimeType=x-scheme-handler/callto;x-scheme-handler/bbclient;x-scheme-handler/tel;x-scheme-handler/sip;\n"
        ));
        assert!(text.contains("\nExec=/usr/bin/bbclient --instance default %u\n"));
        assert_eq!(entry_value(&text, INSTANCE_KEY), Some("default"));
        assert_eq!(
            replaced_in(&text),
            vec![("tel".to_string(), "skype.desktop".to_string())]
        );
    }

    const LIST: &str = "# mine\n[Default Applications]\ntext/html=firefox.desktop;\n\
                        x-scheme-handler/tel=bbclient.desktop;\n\
                        x-scheme-handler/sip=linphone.desktop;bbclient.desktop;\n\
                        \n[Added Associations]\nx-scheme-handler/callto=bbclient.desktop;\n";

    #[test]
    fn removing_leaves_other_lines_alone() {
        let mimes: Vec<String> = SCHEMES.iter().map(|s| mime(s)).collect();
        let out = without_handler(LIST, DESKTOP_ID, &mimes);
        assert_eq!(
            out,
            "# mine\n[Default Applications]\ntext/html=firefox.desktop;\n\
             x-scheme-handler/sip=linphone.desktop;\n\n[Added Associations]\n"
        );
        assert_eq!(without_handler(&out, DESKTOP_ID, &mimes), out);
    }

    #[test]
    fn setting_a_default_replaces_or_adds_one_line() {
        let out = with_default(LIST, "x-scheme-handler/sip", "other.desktop");
        assert_eq!(
            default_in(&out, "x-scheme-handler/sip").as_deref(),
            Some("other.desktop")
        );
        assert_eq!(out.matches("x-scheme-handler/sip=").count(), 1);
        assert!(out.contains("text/html=firefox.desktop;"));
        let out = with_default("", "x-scheme-handler/tel", DESKTOP_ID);
        assert_eq!(
            out,
            "[Default Applications]\nx-scheme-handler/tel=bbclient.desktop;\n"
        );
        let out = with_default(
            "[Added Associations]\na=b;",
            "x-scheme-handler/tel",
            DESKTOP_ID,
        );
        assert_eq!(
            out,
            "[Added Associations]\na=b;\n\n[Default Applications]\nx-scheme-handler/tel=bbclient.desktop;\n"
        );
        let out = with_default(
            "[Default Applications]\nx=y;\n[Other]\n",
            "x-scheme-handler/tel",
            DESKTOP_ID,
        );
        assert_eq!(
            out,
            "[Default Applications]\nx=y;\nx-scheme-handler/tel=bbclient.desktop;\n[Other]\n"
        );
    }

    #[test]
    fn layout_defaults_to_home_and_ignores_relative_values() {
        let env = |k: &str| match k {
            "HOME" => Some(OsString::from("/home/op")),
            "XDG_CONFIG_HOME" => Some(OsString::from("relative")),
            "XDG_DATA_HOME" => Some(OsString::from("/data")),
            _ => None,
        };
        let l = Layout::from_env(&env).expect("layout");
        assert_eq!(
            l.desktop_file(),
            Path::new("/data/applications/bbclient.desktop")
        );
        assert_eq!(l.mimeapps(), Path::new("/home/op/.config/mimeapps.list"));
        let e = Layout::from_env(&|_: &str| None).expect_err("no home");
        assert!(e.contains("set HOME"), "{e}");
    }
}
