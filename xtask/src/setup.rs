//! The system packages the build and the tests need, checked with dpkg and
//! installed with apt-get when we are root.

use std::process::Command;

/// Debian packages, with why each is needed. Anything the build, the tests,
/// the window or the demo use that a new machine lacks
/// (`shared/env/base-image-debian-packages.txt` lists what it has) belongs
/// here: CI machines keep what was installed by hand, new ones do not.
pub const PACKAGES: &[(&str, &str)] = &[
    // The build.
    ("pkg-config", "finds libopus and ALSA for the audio crates"),
    ("cmake", "builds libopus when the system copy is not used"),
    ("libopus-dev", "the Opus codec"),
    ("libasound2-dev", "ALSA, for real audio devices (cpal)"),
    // bbclient.exe (issue 17).
    (
        "gcc-mingw-w64-x86-64",
        "the mingw-w64 linker and C compiler that cross-build bbclient.exe (libopus, SQLite, aws-lc) and the Wine shim",
    ),
    (
        "wine",
        "the wine command, which runs bbclient.exe and the Windows unit tests in the tests",
    ),
    (
        "wine64",
        "Wine's 64-bit loader, which wine needs for x86_64 .exe files",
    ),
    // Packages (cargo xtask package).
    (
        "nsis",
        "makensis, which builds the per-user Windows installer",
    ),
    ("lintian", "checks the .deb"),
    // Real peers.
    (
        "sip-tester",
        "sipp, a real SIP peer for interoperability tests",
    ),
    (
        "baresip",
        "a real softphone peer for interoperability tests",
    ),
    (
        "kamailio",
        "a real registrar and proxy for interoperability tests",
    ),
    (
        "kamailio-tls-modules",
        "kamailio's TLS module (tls.so), for the SIP-over-TLS interoperability tests",
    ),
    // The network between the phone and the server.
    (
        "iptables",
        "the NAT (MASQUERADE) the NAT tests build in network namespaces",
    ),
    // The desktop: links, the browser, the window.
    ("xdg-utils", "xdg-open / xdg-mime for URI handler tests"),
    (
        "desktop-file-utils",
        "checks the .desktop entry of the URI handler",
    ),
    (
        "fonts-noto-cjk",
        "Japanese and Chinese glyphs for the window (the language buttons, ja/zh labels)",
    ),
    (
        "xvfb",
        "an X server without a screen, for the shipped binary's window in the tests",
    ),
    (
        "mesa-vulkan-drivers",
        "a software Vulkan driver (lavapipe) for the window's wgpu renderer under Xvfb",
    ),
    (
        "xdotool",
        "real key presses and mouse clicks into the shipped binary's window under Xvfb",
    ),
];

/// The programs the tests start, and the package of each. Checked before a
/// test run: on a machine without dpkg (where the packages cannot be
/// checked), a missing one fails the run under `CI=true`.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("sipp", "sip-tester"),
    ("baresip", "baresip"),
    ("kamailio", "kamailio"),
    ("xdg-open", "xdg-utils"),
    ("xdg-mime", "xdg-utils"),
    ("desktop-file-validate", "desktop-file-utils"),
    ("Xvfb", "xvfb"),
    ("xdotool", "xdotool"),
    ("setpriv", "util-linux"),
    ("chattr", "e2fsprogs"),
    ("wine", "wine"),
    ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
    ("makensis", "nsis"),
    ("lintian", "lintian"),
    ("zip", "zip"),
    ("unzip", "unzip"),
    ("dpkg-shlibdeps", "dpkg-dev"),
    ("iptables", "iptables"),
    ("ip", "iproute2"),
];

/// Packages a new machine of this kind already has (from
/// `shared/env/base-image-debian-packages.txt`) that [`PROGRAMS`] rely on.
#[cfg(test)]
const BASE_PACKAGES: &[&str] = &[
    "util-linux",
    "e2fsprogs",
    "zip",
    "unzip",
    "dpkg-dev",
    "iproute2",
];

/// The programs of [`PROGRAMS`] that are not on `PATH`.
pub fn missing_programs() -> Vec<(&'static str, &'static str)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    PROGRAMS
        .iter()
        .filter(|(program, _)| !std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .copied()
        .collect()
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Makes sure every package is there; installs the missing ones as root.
pub fn ensure() -> Result<(), String> {
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "xtask: not a Debian-like system (no dpkg-query); make sure these are installed: {}",
            PACKAGES
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(p, _)| !installed(p))
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    for (p, why) in PACKAGES.iter().filter(|(p, _)| missing.contains(p)) {
        eprintln!("xtask: missing system package {p}: {why}");
    }
    let command = format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "system packages are missing; install them with:\n  sudo sh -c '{command}'"
        ));
    }
    crate::run(Command::new("apt-get").arg("update"))?;
    crate::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )?;
    // Debian starts kamailio as a service on install; our tests run their own.
    let _ = Command::new("sh")
        .args(["-c", "command -v systemctl >/dev/null && systemctl disable --now kamailio 2>/dev/null; pkill -x kamailio 2>/dev/null; true"])
        .status();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_comes_from_a_listed_or_base_package() {
        for (program, package) in PROGRAMS {
            assert!(
                PACKAGES.iter().any(|(p, _)| p == package) || BASE_PACKAGES.contains(package),
                "{program} comes from {package}, which the set-up does not install"
            );
        }
    }

    /// When the base image's list is beside the checkout, the packages the
    /// programs rely on without installing them are really there.
    #[test]
    fn base_packages_are_in_the_base_image() {
        let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/env/base-image-debian-packages.txt");
        let Ok(text) = std::fs::read_to_string(&list) else {
            bb_testenv::skip(&format!(
                "the base image's package list is not at {}",
                list.display()
            ));
            return;
        };
        for p in BASE_PACKAGES {
            assert!(
                text.lines().any(|l| l.trim() == *p),
                "{p} is not in {}",
                list.display()
            );
        }
    }
}
