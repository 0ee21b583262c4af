//! URI-3 on a freedesktop system: `bbclient install-handlers` registers the
//! handler, `xdg-open` of a link reaches the running softphone, and
//! `--uninstall` takes it all back.
//!
//! Every command runs in a cleared environment with a temporary HOME and
//! XDG directories, so nothing of the machine's own desktop is read or
//! touched. Without a desktop environment, xdg-open (xdg-utils 1.1.3) falls
//! back to its "generic" mode, which consults mimeapps.list and the desktop
//! files only when a display is set (`DISPLAY` or `WAYLAND_DISPLAY`: any
//! value, nothing connects to it), and otherwise tries `$BROWSER` and a list
//! of text browsers. So the environment here has `DISPLAY` set, and no
//! `XDG_CURRENT_DESKTOP`, `DESKTOP_SESSION`, `KDE_FULL_SESSION`,
//! `GNOME_DESKTOP_SESSION_ID`, D-Bus session or `BROWSER`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Outcome, Phone, free_udp_port, outcome, require, scratch};

/// The isolated desktop of one test.
struct Desktop {
    dir: PathBuf,
}

impl Desktop {
    fn new(dir: &Path) -> Desktop {
        for d in ["home", "data", "config", "sys-data", "sys-config", "run"] {
            std::fs::create_dir_all(dir.join(d)).expect("scratch is writable");
        }
        Desktop {
            dir: dir.to_path_buf(),
        }
    }

    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.join("home"))
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_DATA_DIRS", self.dir.join("sys-data"))
            .env("XDG_CONFIG_DIRS", self.dir.join("sys-config"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env("DISPLAY", ":bbclient-test");
        c
    }

    fn bbclient(&self, args: &[&str]) -> Outcome {
        outcome(self.cmd(env!("CARGO_BIN_EXE_bbclient")).args(args))
    }

    fn xdg_open(&self, uri: &str) -> Outcome {
        outcome(self.cmd(require("xdg-open", "xdg-utils")).arg(uri))
    }

    fn default_for(&self, scheme: &str) -> String {
        let out = outcome(self.cmd(require("xdg-mime", "xdg-utils")).args([
            "query",
            "default",
            &format!("x-scheme-handler/{scheme}"),
        ]));
        out.stdout.trim().to_string()
    }

    fn desktop_file(&self) -> PathBuf {
        self.dir.join("data/applications/bbclient.desktop")
    }

    fn mimeapps(&self) -> String {
        std::fs::read_to_string(self.dir.join("config/mimeapps.list")).unwrap_or_default()
    }
}

const SCHEMES: [&str; 4] = ["callto", "bbclient", "tel", "sip"];

#[test]
fn xdg_open_of_a_link_dials_through_the_running_softphone() {
    require("desktop-file-validate", "desktop-file-utils");
    let dir = scratch("xdg-open");
    let desk = Desktop::new(&dir);
    // Phone::start puts its socket under dir/run, as the desktop's
    // XDG_RUNTIME_DIR does.
    let mut phone = Phone::start(
        &dir,
        "crm",
        &format!(
            "[account]\nserver = \"127.0.0.1:{}\"\nuser = \"1910\"\npassword = \"pw\"\n[sip]\nt1_ms = 50\n",
            free_udp_port()
        ),
    );
    phone.proc.expect_line("control socket", 10);

    let out = desk.bbclient(&["--instance", "crm", "install-handlers"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("desktop-file-validate: ok"), "{out:?}");
    let entry = std::fs::read_to_string(desk.desktop_file()).expect("the desktop file is written");
    let exe = env!("CARGO_BIN_EXE_bbclient");
    assert!(
        entry.contains(&format!("\nExec={exe} --instance crm %u\n")),
        "{entry}"
    );
    assert!(
        entry.contains(
            "\nMimeType=x-scheme-handler/callto;x-scheme-handler/bbclient;x-scheme-handler/tel;x-scheme-handler/sip;\n"
        ),
        "{entry}"
    );
    for scheme in SCHEMES {
        assert_eq!(desk.default_for(scheme), "bbclient.desktop", "{scheme}");
    }

    for (uri, dialled) in [
        ("bbclient:call:1330", "dialing 1330"),
        ("callto:03-1234-5678", "dialing 0312345678"),
        ("tel:+81-3-1234-5678", "dialing +81312345678"),
        ("sip:1303@bluebean.example", "dialing 1303"),
    ] {
        let out = desk.xdg_open(uri);
        assert_eq!(out.code, Some(0), "xdg-open {uri}: {out:?}");
        phone.proc.expect_line(dialled, 10);
        let out = desk.xdg_open("bbclient:hangup");
        assert_eq!(out.code, Some(0), "xdg-open bbclient:hangup: {out:?}");
        phone.proc.expect_line("hung up", 10);
    }
    // A link that would change the operator session is refused by the
    // handler; xdg-open reports the failure and the phone does nothing.
    for uri in ["bbclient:login", "bbclient:call:12ab"] {
        let out = desk.xdg_open(uri);
        assert_ne!(out.code, Some(0), "xdg-open {uri}: {out:?}");
        assert!(
            out.stderr.contains("bbclient: "),
            "the handler's reason shows: {out:?}"
        );
    }
    phone.proc.stop();
    phone.proc.seen.extend(phone.proc.lines.try_iter());
    let dials = phone
        .proc
        .seen
        .iter()
        .filter(|l| l.contains("dialing"))
        .count();
    assert_eq!(dials, 4, "{:?}", phone.proc.seen);
}

#[test]
fn uninstall_removes_the_entry_and_gives_back_what_it_replaced() {
    let dir = scratch("xdg-uninstall");
    let desk = Desktop::new(&dir);
    // Before us, another program handles sip: links.
    let apps = dir.join("data/applications");
    std::fs::create_dir_all(&apps).expect("mkdir");
    std::fs::write(
        apps.join("other-sip.desktop"),
        "[Desktop Entry]\nType=Application\nName=Other\nExec=/bin/true %u\nMimeType=x-scheme-handler/sip;\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("config/mimeapps.list"),
        "[Default Applications]\ntext/html=firefox.desktop;\nx-scheme-handler/sip=other-sip.desktop;\n",
    )
    .expect("write");
    assert_eq!(desk.default_for("sip"), "other-sip.desktop");

    let out = desk.bbclient(&["install-handlers"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("sip: other-sip.desktop"), "{out:?}");
    for scheme in SCHEMES {
        assert_eq!(desk.default_for(scheme), "bbclient.desktop", "{scheme}");
    }
    // Installing again keeps the record of what was replaced.
    let out = desk.bbclient(&["install-handlers", "--instance", "second"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let entry = std::fs::read_to_string(desk.desktop_file()).expect("entry");
    assert!(entry.contains("--instance second %u"), "{entry}");
    assert!(entry.contains("sip:other-sip.desktop;"), "{entry}");

    let out = desk.bbclient(&["install-handlers", "--uninstall"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!desk.desktop_file().exists());
    assert_eq!(desk.default_for("sip"), "other-sip.desktop", "given back");
    for scheme in ["callto", "bbclient", "tel"] {
        assert_eq!(desk.default_for(scheme), "", "{scheme}");
    }
    let list = desk.mimeapps();
    assert!(!list.contains("bbclient.desktop"), "{list}");
    assert!(
        list.contains("text/html=firefox.desktop;"),
        "other lines stay: {list}"
    );
    // xdg-open no longer hands the link to bbclient.
    let out = desk.xdg_open("bbclient:call:1330");
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("bbclient: "), "{out:?}");

    let out = desk.bbclient(&["install-handlers", "--uninstall"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("was not installed"), "{out:?}");

    // A bbclient.desktop someone else wrote is not ours to remove.
    std::fs::write(
        desk.desktop_file(),
        "[Desktop Entry]\nType=Application\nName=Theirs\nExec=/bin/true %u\n",
    )
    .expect("write");
    let out = desk.bbclient(&["install-handlers", "--uninstall"]);
    out.one_line_error(
        1,
        &[
            "was not written by bbclient install-handlers",
            "refusing to remove it",
        ],
    );
    assert!(desk.desktop_file().exists());
}

#[test]
fn a_program_path_with_spaces_is_quoted_and_passes_validation() {
    require("desktop-file-validate", "desktop-file-utils");
    let dir = scratch("xdg-quoting");
    let desk = Desktop::new(&dir);
    let odd = dir.join("Blue Bean (x64) $HOME");
    std::fs::create_dir_all(&odd).expect("mkdir");
    let exe = odd.join("bbclient");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_bbclient"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_bbclient"), &exe).expect("copy the binary");
    }
    let settings = dir.join("my settings.toml");
    std::fs::write(&settings, "").expect("write");
    let out = outcome(
        desk.cmd(&exe)
            .args(["install-handlers", "--config"])
            .arg(&settings),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("desktop-file-validate: ok"), "{out:?}");
    let entry = std::fs::read_to_string(desk.desktop_file()).expect("entry");
    let want = format!(
        "\nExec=\"{}/Blue Bean (x64) \\\\$HOME/bbclient\" --instance default --config \"{}/my settings.toml\" %u\n",
        dir.display(),
        dir.display()
    );
    assert!(entry.contains(&want), "want {want:?} in\n{entry}");
    // A settings file that does not exist is refused before anything is written.
    let _ = std::fs::remove_file(desk.desktop_file());
    let out = desk.bbclient(&["--config", "/nonexistent/s.toml", "install-handlers"]);
    out.one_line_error(2, &["/nonexistent/s.toml", "does not exist"]);
    assert!(!desk.desktop_file().exists());
}
