//! Where the control socket lives, and whether its directory and the socket
//! itself can be trusted: owned by this user, not writable by anyone else,
//! not a symbolic link.
//!
//! Both ends check. The softphone creates or accepts its directory only when
//! it is private ([`ensure_private_dir`]); a verb client talks to a socket
//! only when it and its directory are this user's ([`check_socket`]), because
//! what it sends may be a password (`bbclient login --password-stdin`), and
//! without `XDG_RUNTIME_DIR` the directory is in `/tmp`, where another local
//! user could create it first.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

pub use super::names::{Untrusted, check_instance};

/// Mode bits that let group or others write.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// The sticky bit: in a directory others can write to, only an entry's owner
/// may rename or remove it.
const STICKY: u32 = 0o1000;

/// The private directory of this user's sockets: `$XDG_RUNTIME_DIR/bbclient`
/// when that variable holds an absolute path, else `/tmp/bbclient-UID`.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("bbclient"),
        _ => PathBuf::from(format!("/tmp/bbclient-{}", current_uid())),
    }
}

/// The settings file used when neither `--config` nor `$BBCLIENT_CONFIG`
/// names one: `$XDG_CONFIG_HOME/bbclient/bbclient.toml`
/// (`~/.config/bbclient/bbclient.toml`), read through `env`.
pub fn default_settings(
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty());
    let config_home = match non_empty("XDG_CONFIG_HOME") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => match non_empty("HOME") {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(
                    "no settings file: --config is not given, BBCLIENT_CONFIG is not set, and \
                     neither XDG_CONFIG_HOME nor HOME is set (pass --config FILE)"
                        .into(),
                );
            }
        },
    };
    Ok(config_home.join("bbclient").join("bbclient.toml"))
}

/// The socket path for an instance: `RUNTIME_DIR/NAME.sock` (see
/// [`runtime_dir`]).
pub fn socket_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.sock"))
}

/// Where a softphone started on demand writes its output: `NAME.log` beside
/// the socket.
pub fn log_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.log"))
}

/// Where the process id of a softphone started on demand is written:
/// `NAME.pid` beside the socket.
pub fn pid_path(instance: &str) -> PathBuf {
    runtime_dir().join(format!("{instance}.pid"))
}

/// The real user id of this process, read from `/proc/self/status`; when
/// that cannot be read, the owner of `/proc/self`; when neither can,
/// `u32::MAX`, which matches no peer (the check fails closed).
pub fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .or_else(|| std::fs::metadata("/proc/self").ok().map(|m| m.uid()))
        .unwrap_or(u32::MAX)
}

/// `mallory (uid 1001)`: a user id, after its name when `/etc/passwd` has
/// one.
pub fn who(uid: u32) -> String {
    match user_name(uid) {
        Some(n) => format!("{n} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// `you are alice, uid 1000`: this user, to put in parentheses.
pub fn you(uid: u32) -> String {
    match user_name(uid) {
        Some(n) => format!("you are {n}, uid {uid}"),
        None => format!("you are uid {uid}"),
    }
}

fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.escape_debug().to_string())
    })
}

/// Where `dir` stands, read without following a link at `dir` itself.
enum DirState {
    /// Nothing is there (yet).
    Missing,
    /// A directory of ours that nobody else can write to; its mode bits.
    Private(u32),
}

/// Checks that `dir` is a real directory owned by `uid`, that group and
/// others cannot write to it, and that nobody else can rename it away: its
/// parent belongs to `uid` or root and is not writable by others unless it
/// is sticky (as `/tmp` is).
fn inspect_dir(dir: &Path, uid: u32) -> Result<DirState, Inspect> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(DirState::Missing),
        Err(e) => return Err(Inspect::Io(e)),
    };
    let remove = format!(
        "remove it with 'rm -r {}' (the softphone creates a private one), or set \
         XDG_RUNTIME_DIR to a private directory of yours",
        dir.display()
    );
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(dir)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(Inspect::Untrusted(Untrusted::new(
            dir,
            format!("is a symbolic link{target}"),
            remove,
        )));
    }
    if !meta.is_dir() {
        return Err(Inspect::Untrusted(Untrusted::new(
            dir,
            "is not a directory",
            remove,
        )));
    }
    if meta.uid() != uid {
        return Err(Inspect::Untrusted(Untrusted::new(
            dir,
            format!(
                "belongs to {}, not to you ({}), so another user may be listening there",
                who(meta.uid()),
                you(uid)
            ),
            format!(
                "if it is another user's softphone, run bbclient as that user; otherwise remove {} \
                 (as root if need be), or set XDG_RUNTIME_DIR to a private directory of yours",
                dir.display()
            ),
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(Inspect::Untrusted(Untrusted::new(
            dir,
            format!(
                "can be written by group or others (mode {mode:04o}), so another user may have put \
                 a socket or a link in it"
            ),
            format!(
                "check what is in it, then run 'chmod 700 {}', or remove it with 'rm -r {}'",
                dir.display(),
                dir.display()
            ),
        )));
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Followed: a parent that is a link (a /tmp that is one) is judged
        // by what it points to.
        let pm = std::fs::metadata(parent).map_err(Inspect::Io)?;
        let pmode = pm.mode() & 0o7777;
        let fix = "set XDG_RUNTIME_DIR to a private directory of yours".to_string();
        if pm.uid() != uid && pm.uid() != 0 {
            return Err(Inspect::Untrusted(Untrusted::new(
                parent,
                format!(
                    "belongs to {}, who could rename {} away and put their own in its place",
                    who(pm.uid()),
                    dir.display()
                ),
                fix,
            )));
        }
        if pmode & WRITABLE_BY_OTHERS != 0 && pmode & STICKY == 0 {
            return Err(Inspect::Untrusted(Untrusted::new(
                parent,
                format!(
                    "can be written by group or others and is not sticky (mode {pmode:04o}), so \
                     another user could rename {} away and put their own in its place",
                    dir.display()
                ),
                fix,
            )));
        }
    }
    Ok(DirState::Private(mode))
}

enum Inspect {
    Untrusted(Untrusted),
    Io(std::io::Error),
}

/// Makes sure `dir` exists, is a real directory (not a symbolic link) owned
/// by this user, that nobody else can write to, and is 0700; creates it 0700
/// when missing. A directory of ours that others may only read or enter is
/// tightened to 0700 (nothing can have been put in it); one that others may
/// write to is refused, as something may already be waiting in it.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    let uid = current_uid();
    let refuse = |u: Untrusted| {
        format!(
            "control directory {}{} {}; refusing to use it ({})",
            dir.display(),
            if u.path == dir {
                String::new()
            } else {
                format!(": {}", u.path.display())
            },
            u.problem,
            u.fix
        )
    };
    for _ in 0..2 {
        match inspect_dir(dir, uid) {
            Ok(DirState::Private(mode)) => {
                if mode != 0o700 {
                    std::fs::set_permissions(
                        dir,
                        std::os::unix::fs::PermissionsExt::from_mode(0o700),
                    )
                    .map_err(|e| format!("cannot make {} private (0700): {e}", dir.display()))?;
                }
                return Ok(());
            }
            Ok(DirState::Missing) => {
                if let Some(parent) = dir.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                    // Check what we made (the umask may have narrowed it).
                    Ok(()) => continue,
                    // Someone made it in between: check theirs.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
                }
            }
            Err(Inspect::Untrusted(u)) => return Err(refuse(u)),
            Err(Inspect::Io(e)) => return Err(format!("cannot inspect {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "control directory {} keeps changing under us; refusing to use it",
        dir.display()
    ))
}

/// What [`check_socket`] found.
#[derive(Debug)]
pub enum SocketCheck {
    /// The socket and its directory are this user's and private.
    Trusted,
    /// The directory or the socket does not exist: nothing runs.
    Missing,
    /// They must not be used.
    Untrusted(Untrusted),
    /// They could not be inspected (`EACCES` when the directory is another
    /// user's 0700 one).
    Io(std::io::Error),
}

/// Before a client sends anything: checks that the socket at `path` and its
/// directory belong to this user, that neither can be written by group or
/// others, and that neither is a symbolic link; the directory's parent must
/// belong to this user or root, and be sticky if others can write to it.
pub fn check_socket(path: &Path) -> SocketCheck {
    let uid = current_uid();
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        match inspect_dir(dir, uid) {
            Ok(DirState::Private(_)) => {}
            Ok(DirState::Missing) => return SocketCheck::Missing,
            Err(Inspect::Untrusted(u)) => return SocketCheck::Untrusted(u),
            Err(Inspect::Io(e)) => return SocketCheck::Io(e),
        }
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return SocketCheck::Missing,
        Err(e) => return SocketCheck::Io(e),
    };
    let restart = format!("remove {} and restart your softphone", path.display());
    if meta.file_type().is_symlink() {
        return SocketCheck::Untrusted(Untrusted::new(
            path,
            "is a symbolic link, not the softphone's socket",
            restart,
        ));
    }
    if !meta.file_type().is_socket() {
        return SocketCheck::Untrusted(Untrusted::new(path, "is not a socket", restart));
    }
    if meta.uid() != uid {
        return SocketCheck::Untrusted(Untrusted::new(
            path,
            format!(
                "belongs to {}, not to you ({}), so another user is listening there",
                who(meta.uid()),
                you(uid)
            ),
            format!(
                "if it is another user's softphone, run bbclient as that user; otherwise {restart}"
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return SocketCheck::Untrusted(Untrusted::new(
            path,
            format!(
                "can be written by group or others (mode {mode:04o}); the softphone makes it 0600"
            ),
            format!("'chmod 600 {}', or restart your softphone", path.display()),
        ));
    }
    SocketCheck::Trusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bbclient-control-paths-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir is writable");
        d
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn instance_names() {
        for ok in ["default", "ext1910", "a.b-c_d", &"x".repeat(64)] {
            assert!(check_instance(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "../x", "a b", &"x".repeat(65), "é"] {
            let e = check_instance(bad).expect_err(bad);
            assert!(e.starts_with("instance name '"), "{e}");
        }
    }

    #[test]
    fn private_dir_is_created_0700_and_tightened_when_only_readable() {
        let d = scratch("private");
        let dir = d.join("a/bbclient");
        ensure_private_dir(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("exists").mode() & 0o777;
        assert_eq!(mode, 0o700);
        chmod(&dir, 0o755);
        ensure_private_dir(&dir).expect("tightened");
        let mode = std::fs::metadata(&dir).expect("exists").mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn private_dir_refuses_symlinks_files_and_writable_dirs() {
        let d = scratch("symlink");
        let target = d.join("elsewhere");
        std::fs::create_dir_all(&target).expect("mkdir");
        let link = d.join("bbclient");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = ensure_private_dir(&link).expect_err("a symlink is refused");
        assert!(e.contains("is a symbolic link (to "), "{e}");
        let file = d.join("file");
        std::fs::write(&file, "").expect("write");
        let e = ensure_private_dir(&file).expect_err("a file is refused");
        assert!(e.contains("not a directory"), "{e}");
        for mode in [0o777, 0o770, 0o1777] {
            let open = d.join(format!("open-{mode:o}"));
            std::fs::create_dir_all(&open).expect("mkdir");
            chmod(&open, mode);
            let e = ensure_private_dir(&open).expect_err("writable by others");
            assert!(
                e.contains("can be written by group or others")
                    && e.contains(&format!("chmod 700 {}", open.display())),
                "{e}"
            );
            assert_eq!(
                std::fs::metadata(&open).expect("kept").mode() & 0o7777,
                mode,
                "a refused directory is left as it was"
            );
        }
    }

    #[test]
    fn a_parent_others_can_swap_is_refused_unless_sticky() {
        let d = scratch("parent");
        let open = d.join("open");
        std::fs::create_dir_all(&open).expect("mkdir");
        chmod(&open, 0o777);
        let e = ensure_private_dir(&open.join("bbclient")).expect_err("swappable");
        assert!(
            e.contains("is not sticky") && e.contains("XDG_RUNTIME_DIR"),
            "{e}"
        );
        chmod(&open, 0o1777);
        ensure_private_dir(&open.join("bbclient")).expect("a sticky parent, as /tmp");
    }

    #[test]
    fn a_socket_is_checked_with_its_directory() {
        let d = scratch("check");
        let dir = d.join("bbclient");
        assert!(matches!(
            check_socket(&dir.join("x.sock")),
            SocketCheck::Missing
        ));
        ensure_private_dir(&dir).expect("created");
        let sock = dir.join("x.sock");
        assert!(matches!(check_socket(&sock), SocketCheck::Missing));
        let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        chmod(&sock, 0o600);
        assert!(matches!(check_socket(&sock), SocketCheck::Trusted));
        chmod(&sock, 0o666);
        let SocketCheck::Untrusted(u) = check_socket(&sock) else {
            panic!("a socket others may write to is refused")
        };
        assert_eq!(u.path, sock);
        assert!(u.fix.contains("chmod 600"), "{u:?}");
        chmod(&sock, 0o600);
        chmod(&dir, 0o733);
        let SocketCheck::Untrusted(u) = check_socket(&sock) else {
            panic!("a directory others may write to is refused")
        };
        assert_eq!(u.path, dir);
        assert!(u.problem.contains("mode 0733"), "{u:?}");
        chmod(&dir, 0o700);
        let file = dir.join("f.sock");
        std::fs::write(&file, "").expect("write");
        let SocketCheck::Untrusted(u) = check_socket(&file) else {
            panic!("a file is not a socket")
        };
        assert!(u.problem.contains("not a socket"), "{u:?}");
        let link = dir.join("l.sock");
        std::os::unix::fs::symlink(&sock, &link).expect("symlink");
        let SocketCheck::Untrusted(u) = check_socket(&link) else {
            panic!("a link to a socket is refused")
        };
        assert!(u.problem.contains("symbolic link"), "{u:?}");
    }

    #[test]
    fn a_user_is_named_when_known() {
        assert_eq!(who(0), "root (uid 0)");
        assert_eq!(you(0), "you are root, uid 0");
        assert_eq!(who(3_999_999_999), "uid 3999999999");
    }
}
