//! `cargo xtask package [--debug]`: the three packages, each tested.
//!
//! - `target/package/bbclient-VERSION-windows-x86_64.zip`: portable
//!   (`bbclient.exe`, `README.txt`, `bbclient.example.toml`); tested by
//!   unpacking it and running the `bbclient.exe` in it under Wine.
//! - `target/package/bbclient-VERSION-setup.exe`: the per-user NSIS
//!   installer (`packaging/windows/bbclient.nsi`); tested under Wine in a
//!   prefix of its own: installed silently, the files, the Start-menu entry,
//!   the URI handler and uninstall keys checked, uninstalled silently, all of
//!   it checked gone.
//! - `target/package/bbclient_VERSION_amd64.deb`: the binary, the desktop
//!   entry (the URI handler), the icon, the copyright; checked by lintian
//!   (`--fail-on error`) and installed with `dpkg --root` into a scratch
//!   root, where the installed `bbclient --version` runs.
//!
//! Release builds by default (what an operator installs); `--debug` packages
//! the debug builds, quicker to make when checking the packaging itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::windows::{TARGET, shim, wine_env};
use crate::{cargo, run, target_dir, workspace_root};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn out_dir() -> PathBuf {
    target_dir().join("package")
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn fresh_dir(d: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(d);
    std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))
}

/// Runs `cmd`; its standard output on success.
fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check(what: &str, ok: bool) -> Result<(), String> {
    if ok {
        eprintln!("xtask: package check: {what}: ok");
        Ok(())
    } else {
        Err(format!("package check failed: {what}"))
    }
}

/// Builds and tests the three packages.
pub fn run_all(args: &[String]) -> Result<(), String> {
    let debug = args.iter().any(|a| a == "--debug");
    let profile = if debug { "debug" } else { "release" };
    let build = |target: Option<&str>, pkg: &str, bin: &str| {
        let mut c = cargo();
        c.args(["build", "-p", pkg, "--bin", bin]);
        if !debug {
            c.arg("--release");
        }
        if let Some(t) = target {
            c.args(["--target", t]);
        }
        run(&mut c)
    };
    build(Some(TARGET), "softphone", "bbclient")?;
    build(None, "softphone", "bbclient")?;
    let exe = target_dir().join(TARGET).join(profile).join("bbclient.exe");
    let linux = target_dir().join(profile).join("bbclient");
    let out = out_dir();
    fresh_dir(&out)?;
    let stage = out.join("windows-stage");
    fresh_dir(&stage)?;
    copy(&exe, &stage.join("bbclient.exe"))?;
    run(Command::new("x86_64-w64-mingw32-strip").arg(stage.join("bbclient.exe")))?;
    let root = workspace_root();
    copy(
        &root.join("packaging/windows/README.txt"),
        &stage.join("README.txt"),
    )?;
    copy(
        &root.join("fixtures/config/example.toml"),
        &stage.join("bbclient.example.toml"),
    )?;
    let zip = zip(&stage, &out)?;
    let setup = nsis(&stage, &out)?;
    let deb = deb(&linux, &out)?;
    test_zip(&zip)?;
    test_installer(&setup)?;
    test_deb(&deb)?;
    for p in [&zip, &setup, &deb] {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        eprintln!("xtask: package: {} ({} KiB)", p.display(), size / 1024);
    }
    Ok(())
}

fn zip(stage: &Path, out: &Path) -> Result<PathBuf, String> {
    let zip = out.join(format!("bbclient-{VERSION}-windows-x86_64.zip"));
    run(Command::new("zip")
        .current_dir(stage)
        .args(["-q", "-X", "-j"])
        .arg(&zip)
        .args(["bbclient.exe", "README.txt", "bbclient.example.toml"]))?;
    Ok(zip)
}

fn nsis(stage: &Path, out: &Path) -> Result<PathBuf, String> {
    let setup = out.join(format!("bbclient-{VERSION}-setup.exe"));
    let script = workspace_root().join("packaging/windows/bbclient.nsi");
    run(Command::new("makensis")
        .arg("-V2")
        .arg(format!("-DVERSION={VERSION}"))
        .arg(format!("-DSTAGE={}", stage.display()))
        .arg(format!("-DOUTFILE={}", setup.display()))
        .arg(&script))?;
    Ok(setup)
}

/// A Wine prefix of the packaging tests' own, with the test-only
/// ProcessPrng shim in its system folder (never in the packages).
fn package_prefix() -> Result<PathBuf, String> {
    let prefix = target_dir().join("wine-package");
    let system32 = prefix.join("drive_c/windows/system32");
    if !system32.is_dir() {
        run(wine_env(&mut Command::new("wineboot"))
            .env("WINEPREFIX", &prefix)
            .arg("-i"))?;
    }
    let dir = out_dir().join("shim");
    shim(&dir)?;
    copy(
        &dir.join("bcryptprimitives.dll"),
        &system32.join("bcryptprimitives.dll"),
    )?;
    Ok(prefix)
}

fn wine_in(prefix: &Path) -> Command {
    let mut c = Command::new("wine");
    wine_env(&mut c).env("WINEPREFIX", prefix);
    c
}

fn test_zip(zip: &Path) -> Result<(), String> {
    let dir = out_dir().join("zip-test");
    fresh_dir(&dir)?;
    run(Command::new("unzip").arg("-q").arg(zip).arg("-d").arg(&dir))?;
    for f in ["bbclient.exe", "README.txt", "bbclient.example.toml"] {
        check(&format!("the zip holds {f}"), dir.join(f).is_file())?;
    }
    let prefix = package_prefix()?;
    let v = output(
        wine_in(&prefix)
            .arg(dir.join("bbclient.exe"))
            .arg("--version"),
    )?;
    check(
        &format!("bbclient.exe from the zip runs ({})", v.trim()),
        v.contains(VERSION),
    )
}

fn reg_has(prefix: &Path, key: &str) -> bool {
    wine_in(prefix)
        .args(["reg", "query", key])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test_installer(setup: &Path) -> Result<(), String> {
    let prefix = package_prefix()?;
    let user = output(wine_in(&prefix).args(["cmd", "/c", "echo", "%USERNAME%"]))?;
    let home = prefix.join("drive_c/users").join(user.trim());
    let inst = home.join("AppData/Local/Programs/BlueBean");
    let link = home.join(
        "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/BlueBean/BlueBean softphone.lnk",
    );
    let uninstall_key =
        r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\BlueBean.bbclient";
    let handler = r"HKCU\Software\Classes\bbclient\shell\open\command";
    run(wine_in(&prefix).arg(setup).arg("/S"))?;
    for f in [
        "bbclient.exe",
        "README.txt",
        "bbclient.example.toml",
        "uninstall.exe",
    ] {
        check(
            &format!("the installer put {f} in {}", inst.display()),
            inst.join(f).is_file(),
        )?;
    }
    check("the Start-menu entry exists", link.is_file())?;
    check("the uninstall key exists", reg_has(&prefix, uninstall_key))?;
    let q = output(wine_in(&prefix).args(["reg", "query", handler]))?;
    check(
        "the bbclient: handler runs the installed bbclient.exe",
        q.contains(r#"Programs\BlueBean\bbclient.exe" --instance default "%1""#),
    )?;
    // `_?=DIR`: the uninstaller runs in place and is waited for.
    run(wine_in(&prefix)
        .arg(inst.join("uninstall.exe"))
        .arg("/S")
        .arg(format!(
            r"_?=C:\users\{}\AppData\Local\Programs\BlueBean",
            user.trim()
        )))?;
    // With `_?=` the uninstaller cannot remove itself, nor its folder.
    let _ = std::fs::remove_file(inst.join("uninstall.exe"));
    let _ = std::fs::remove_dir(&inst);
    check(
        "the installed files are gone",
        !inst.join("bbclient.exe").exists(),
    )?;
    check("the Start-menu entry is gone", !link.exists())?;
    check(
        "the uninstall key is gone",
        !reg_has(&prefix, uninstall_key),
    )?;
    check(
        "the URI handler keys are gone",
        !reg_has(&prefix, r"HKCU\Software\Classes\bbclient")
            && !reg_has(&prefix, r"HKCU\Software\Classes\callto"),
    )
}

fn deb(bin: &Path, out: &Path) -> Result<PathBuf, String> {
    let root = workspace_root();
    let stage = out.join("deb-stage");
    fresh_dir(&stage)?;
    let usr = stage.join("usr");
    copy(bin, &usr.join("bin/bbclient"))?;
    run(Command::new("strip")
        .args([
            "--strip-unneeded",
            "--remove-section=.comment",
            "--remove-section=.note",
        ])
        .arg(usr.join("bin/bbclient")))?;
    copy(
        &root.join("packaging/debian/bbclient.desktop"),
        &usr.join("share/applications/bbclient.desktop"),
    )?;
    copy(
        &root.join("packaging/bbclient.svg"),
        &usr.join("share/icons/hicolor/scalable/apps/bbclient.svg"),
    )?;
    copy(
        &root.join("packaging/debian/copyright"),
        &usr.join("share/doc/bbclient/copyright"),
    )?;
    let text = format!(
        "bbclient ({VERSION}) unstable; urgency=medium\n\n  * Built by cargo xtask package.\n\n -- bbclient maintainers <bbclient@example.invalid>  Sun, 06 Dec 2026 00:00:00 +0000\n"
    );
    std::fs::write(usr.join("share/doc/bbclient/changelog"), text)
        .map_err(|e| format!("cannot write the changelog: {e}"))?;
    run(Command::new("gzip")
        .args(["-9n", "-f"])
        .arg(usr.join("share/doc/bbclient/changelog")))?;
    // The shared libraries it needs, as dpkg-shlibdeps finds them (it wants
    // a debian/control beside it).
    let scratch = out.join("shlibdeps");
    fresh_dir(&scratch.join("debian"))?;
    std::fs::write(
        scratch.join("debian/control"),
        "Source: bbclient\n\nPackage: bbclient\nArchitecture: amd64\n",
    )
    .map_err(|e| format!("cannot write debian/control: {e}"))?;
    let deps = output(
        Command::new("dpkg-shlibdeps")
            .current_dir(&scratch)
            .args(["-O", "-e"])
            .arg(usr.join("bin/bbclient")),
    )?;
    let depends = deps
        .trim()
        .strip_prefix("shlibs:Depends=")
        .unwrap_or("libc6")
        .to_string();
    let size = du_kib(&usr);
    let control = format!(
        "Package: bbclient\nVersion: {VERSION}\nArchitecture: amd64\nMaintainer: bbclient maintainers <bbclient@example.invalid>\nInstalled-Size: {size}\nDepends: {depends}\nRecommends: xdg-utils\nSection: comm\nPriority: optional\nHomepage: https://example.invalid/bluebean-client\nDescription: call-centre softphone for the BlueBean PBX\n bbclient registers with a BlueBean server over SIP, places and receives\n calls, and on incoming calls pushes the call's data to CRMs: a popup\n request, a detail page in the browser, and commands run on ring, answer\n and hang-up. callto:, bbclient:, tel: and sip: links open in it.\n"
    );
    let debian = stage.join("DEBIAN");
    std::fs::create_dir_all(&debian).map_err(|e| format!("cannot create DEBIAN: {e}"))?;
    std::fs::write(debian.join("control"), control)
        .map_err(|e| format!("cannot write DEBIAN/control: {e}"))?;
    let deb = out.join(format!("bbclient_{VERSION}_amd64.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&stage)
        .arg(&deb))?;
    Ok(deb)
}

fn du_kib(dir: &Path) -> u64 {
    fn walk(d: &Path) -> u64 {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk(&p)
                } else {
                    e.metadata().map(|m| m.len().div_ceil(1024)).unwrap_or(0)
                }
            })
            .sum()
    }
    walk(dir)
}

fn test_deb(deb: &Path) -> Result<(), String> {
    run(Command::new("lintian")
        .args(["--fail-on", "error", "--suppress-tags", "no-manual-page"])
        .arg(deb))?;
    let root = out_dir().join("deb-root");
    fresh_dir(&root)?;
    for d in ["var/lib/dpkg/updates", "var/lib/dpkg/info"] {
        std::fs::create_dir_all(root.join(d)).map_err(|e| format!("cannot create {d}: {e}"))?;
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "")
        .map_err(|e| format!("cannot write the scratch root's dpkg status: {e}"))?;
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-depends",
            "--force-not-root",
            "--force-script-chrootless",
            "-i",
        ])
        .arg(deb))?;
    for f in [
        "usr/bin/bbclient",
        "usr/share/applications/bbclient.desktop",
        "usr/share/icons/hicolor/scalable/apps/bbclient.svg",
        "usr/share/doc/bbclient/copyright",
    ] {
        check(&format!("the .deb installed /{f}"), root.join(f).is_file())?;
    }
    run(Command::new("desktop-file-validate")
        .arg(root.join("usr/share/applications/bbclient.desktop")))?;
    let v = output(Command::new(root.join("usr/bin/bbclient")).arg("--version"))?;
    check(
        &format!("the installed bbclient runs ({})", v.trim()),
        v.contains(VERSION),
    )
}
