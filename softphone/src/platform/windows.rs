//! Windows: DACLs for the user alone, job objects, console control events.
//!
//! Every call goes through `windows-sys` (no hand-declared FFI); handles
//! and memory the OS gives us are owned by small guards that free them.

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io;
use std::os::windows::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::Path;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INVALID_PARAMETER, GetLastError, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
    STILL_ACTIVE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
    SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, GetTokenInformation,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY,
    TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CREATE_SUSPENDED, GetCurrentProcess,
    GetExitCodeProcess, OpenProcess, OpenProcessToken, OpenThread,
    PROCESS_QUERY_LIMITED_INFORMATION, ResumeThread, THREAD_SUSPEND_RESUME,
};

/// `s` as a NUL-terminated UTF-16 string.
pub fn wide(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(std::iter::once(0)).collect()
}

/// The NUL-terminated UTF-16 string at `p`.
///
/// # Safety
/// `p` must point to a NUL-terminated UTF-16 string.
unsafe fn from_wide(p: *const u16) -> OsString {
    let mut len = 0;
    // SAFETY: the caller promises a terminating NUL.
    unsafe {
        while *p.add(len) != 0 {
            len += 1;
        }
        OsString::from_wide(std::slice::from_raw_parts(p, len))
    }
}

/// A kernel handle, closed when dropped.
pub struct OwnedHandle(pub HANDLE);

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        if !self.0.is_null() && self.0 != INVALID_HANDLE_VALUE {
            // SAFETY: we own the handle; it is closed once.
            unsafe {
                CloseHandle(self.0);
            }
        }
    }
}

/// Memory the OS allocated with `LocalAlloc`, freed when dropped.
struct LocalMem(*mut core::ffi::c_void);

impl Drop for LocalMem {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API documented to allocate
            // with LocalAlloc; it is freed once.
            unsafe {
                LocalFree(self.0);
            }
        }
    }
}

/// The string SID of the user this process runs as (`S-1-5-21-…`).
pub fn user_sid() -> io::Result<String> {
    // SAFETY: the pseudo-handle of this process needs no closing.
    sid_of_process(unsafe { GetCurrentProcess() })
}

/// The string SID of the user process `pid` runs as.
pub fn process_user_sid(pid: u32) -> io::Result<String> {
    // SAFETY: a plain call; the handle is closed by its guard.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot open process {pid}: {e}"),
        ));
    }
    let h = OwnedHandle(h);
    sid_of_process(h.0)
}

fn sid_of_process(process: HANDLE) -> io::Result<String> {
    let what = |step: &str| {
        let e = io::Error::last_os_error();
        io::Error::new(
            e.kind(),
            format!("cannot read a process's user ({step}): {e}"),
        )
    };
    // SAFETY: each call gets valid pointers to locals; buffers are sized by
    // the size the first call reports; handles and strings are freed by
    // their guards.
    unsafe {
        let mut token: HANDLE = null_mut();
        if OpenProcessToken(process, TOKEN_QUERY, &mut token) == 0 {
            return Err(what("OpenProcessToken"));
        }
        let token = OwnedHandle(token);
        let mut len = 0u32;
        GetTokenInformation(token.0, TokenUser, null_mut(), 0, &mut len);
        // u64s, so that TOKEN_USER's pointer is aligned.
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        if GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) == 0 {
            return Err(what("GetTokenInformation"));
        }
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let mut text: *mut u16 = null_mut();
        if ConvertSidToStringSidW(user.User.Sid, &mut text) == 0 {
            return Err(what("ConvertSidToStringSidW"));
        }
        let text = LocalMem(text.cast());
        Ok(from_wide(text.0 as *const u16)
            .to_string_lossy()
            .into_owned())
    }
}

/// A security descriptor whose DACL grants this user alone everything and
/// inherits nothing from the parent (`D:P(A;…;GA;;;SID)`).
pub struct OwnerOnly {
    sd: LocalMem,
}

// The descriptor is immutable once made; the OS only reads it.
unsafe impl Send for OwnerOnly {}
unsafe impl Sync for OwnerOnly {}

impl OwnerOnly {
    /// For a file or a pipe; `inherit` for a directory (its new files and
    /// folders get the same DACL).
    pub fn new(inherit: bool) -> io::Result<OwnerOnly> {
        let sid = user_sid()?;
        let flags = if inherit { "OICI" } else { "" };
        let sddl = wide(format!("D:P(A;{flags};GA;;;{sid})"));
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: a NUL-terminated string and a pointer to a local.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                null_mut(),
            )
        };
        if ok == 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot make an owner-only security descriptor: {e}"),
            ));
        }
        Ok(OwnerOnly { sd: LocalMem(sd) })
    }

    /// Security attributes for `CreateNamedPipeW` and the like; valid while
    /// `self` lives.
    pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.sd.0,
            bInheritHandle: 0,
        }
    }

    fn dacl(&self) -> io::Result<*mut ACL> {
        let mut present = 0;
        let mut defaulted = 0;
        let mut dacl: *mut ACL = null_mut();
        // SAFETY: a valid descriptor and pointers to locals.
        let ok = unsafe {
            GetSecurityDescriptorDacl(self.sd.0, &mut present, &mut dacl, &mut defaulted)
        };
        if ok == 0 || present == 0 {
            return Err(io::Error::other("the owner-only descriptor has no DACL"));
        }
        Ok(dacl)
    }
}

/// Creates `dir` and its missing parents; the last one gets an owner-only
/// DACL when it is new.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let existed = dir.is_dir();
    std::fs::create_dir_all(dir)?;
    if !existed {
        make_private(dir)?;
    }
    Ok(())
}

/// Options to open files with (the DACL is set by [`make_private`] after
/// creation; in a private directory new files inherit it).
pub fn private_file_options() -> OpenOptions {
    OpenOptions::new()
}

/// The same as [`private_file_options`]: `create_new` already refuses an
/// existing file or link.
pub fn private_new_file_options() -> OpenOptions {
    OpenOptions::new()
}

/// Gives `path` a protected DACL that grants this user alone full control
/// (inherited by the contents of a directory).
pub fn make_private(path: &Path) -> io::Result<()> {
    let sd = OwnerOnly::new(path.is_dir())?;
    let dacl = sd.dacl()?;
    let name = wide(path);
    // SAFETY: a NUL-terminated path, a DACL that lives as long as `sd`.
    let rc = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            dacl,
            null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    Ok(())
}

/// Whether process `pid` is gone: no such process, or it has exited.
pub fn process_gone(pid: u32) -> bool {
    // SAFETY: plain calls; the handle is closed by its guard.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if h.is_null() {
            return GetLastError() == ERROR_INVALID_PARAMETER;
        }
        let h = OwnedHandle(h);
        let mut code = 0u32;
        GetExitCodeProcess(h.0, &mut code) != 0 && code != STILL_ACTIVE as u32
    }
}

/// Starts `cmd` detached: its own process group (Ctrl-C in this console
/// does not reach it) and no console window.
pub fn detach(cmd: &mut std::process::Command) {
    std::os::windows::process::CommandExt::creation_flags(
        cmd,
        CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW,
    );
}

/// Opens `url` with the user's default browser: `ShellExecuteW` with the
/// `open` verb and the URL as the one file argument (no command line is
/// built, no shell parses it). The outcome is that of handing the URL to
/// the shell, which takes milliseconds (the browser starts on its own).
pub fn open_url(url: &str) -> Result<(), String> {
    use windows_sys::Win32::UI::Shell::ShellExecuteW;
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_SHOWNORMAL;
    let file = wide(url);
    let verb = wide("open");
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe {
        ShellExecuteW(
            null_mut(),
            verb.as_ptr(),
            file.as_ptr(),
            null(),
            null(),
            SW_SHOWNORMAL,
        )
    };
    // Success is a value above 32 (the documented HINSTANCE convention).
    if rc as usize > 32 {
        Ok(())
    } else {
        Err(format!(
            "cannot open the default browser (ShellExecuteW returned {})",
            rc as usize
        ))
    }
}

/// Prepares a hook command for [`ProcessTree::contain`]: started suspended
/// (so that it cannot start a child before it is in the job), without a
/// console window.
pub fn prepare_tree(cmd: &mut tokio::process::Command) {
    cmd.creation_flags(CREATE_SUSPENDED | CREATE_NO_WINDOW);
}

/// A command's whole process tree: a job object the command was put in
/// before it ran, whose every process is terminated when this is dropped
/// before [`ProcessTree::ended`].
pub struct ProcessTree {
    job: Option<OwnedHandle>,
}

// The job handle is only closed or terminated, from any thread.
unsafe impl Send for ProcessTree {}
unsafe impl Sync for ProcessTree {}

impl ProcessTree {
    /// Puts `child` (started with [`prepare_tree`], so suspended) in a new
    /// job object and lets it run. On an error the child is still
    /// suspended: drop it (hook commands are `kill_on_drop`).
    pub fn contain(child: &tokio::process::Child) -> io::Result<ProcessTree> {
        let process = child
            .raw_handle()
            .ok_or_else(|| io::Error::other("the command has already ended"))?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the command has already ended"))?;
        // SAFETY: plain calls with a live process handle; the job handle is
        // owned by its guard.
        let job = unsafe { CreateJobObjectW(null(), null()) };
        if job.is_null() {
            return Err(io::Error::last_os_error());
        }
        let job = OwnedHandle(job);
        // SAFETY: both handles are live.
        if unsafe { AssignProcessToJobObject(job.0, process as HANDLE) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let tree = ProcessTree { job: Some(job) };
        resume(pid)?;
        Ok(tree)
    }

    /// The command ended by itself: leave what it started alone (a
    /// launcher may start a CRM window that is meant to stay).
    pub fn ended(&mut self) {
        self.job = None;
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        if let Some(job) = &self.job {
            // SAFETY: a live job handle; an empty job is fine.
            unsafe {
                TerminateJobObject(job.0, 1);
            }
        }
    }
}

/// Resumes the threads of suspended process `pid` (a new process has one).
fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: the snapshot and thread handles are owned by guards; the
    // entry's size is set before the first call, as the API requires.
    unsafe {
        let snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if snap == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        let snap = OwnedHandle(snap);
        let mut entry: THREADENTRY32 = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
        let mut resumed = 0;
        let mut more = Thread32First(snap.0, &mut entry) != 0;
        while more {
            if entry.th32OwnerProcessID == pid {
                let t = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                if !t.is_null() {
                    let t = OwnedHandle(t);
                    if ResumeThread(t.0) != u32::MAX {
                        resumed += 1;
                    }
                }
            }
            more = Thread32Next(snap.0, &mut entry) != 0;
        }
        if resumed == 0 {
            return Err(io::Error::other(format!(
                "cannot resume process {pid} after putting it in its job object"
            )));
        }
    }
    Ok(())
}

/// Ctrl-C, Ctrl-Break and the console closing, caught from the moment they
/// are installed (install them before starting the core).
pub struct ShutdownSignals {
    c: Option<tokio::signal::windows::CtrlC>,
    brk: Option<tokio::signal::windows::CtrlBreak>,
    close: Option<tokio::signal::windows::CtrlClose>,
}

impl ShutdownSignals {
    /// Installs the handlers (inside a tokio runtime). One that cannot be
    /// installed is logged.
    pub fn install() -> ShutdownSignals {
        use tokio::signal::windows;
        fn one<T>(r: io::Result<T>, name: &str) -> Option<T> {
            r.map_err(|e| {
                tracing::warn!(
                    "cannot catch {name}: {e}; it will end bbclient without unregistering"
                )
            })
            .ok()
        }
        ShutdownSignals {
            c: one(windows::ctrl_c(), "Ctrl-C"),
            brk: one(windows::ctrl_break(), "Ctrl-Break"),
            close: one(windows::ctrl_close(), "the console closing"),
        }
    }

    /// Resolves on the next Ctrl-C, Ctrl-Break or console close.
    pub async fn recv(&mut self) {
        let c = async {
            match self.c.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let brk = async {
            match self.brk.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let close = async {
            match self.close.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = c => {}
            _ = brk => {}
            _ = close => {}
        }
    }
}

/// Would watch how many bytes a TCP connection has received; Windows does
/// not say here (`SIO_TCP_INFO` needs the socket's handle while rsipstack
/// owns it), so the keep-alive's pong check is off and the kernel's TCP
/// keep-alive ends a dead connection instead.
#[derive(Debug)]
pub struct InboundWatch;

impl InboundWatch {
    /// No watch on Windows.
    pub fn new(_tcp: &tokio::net::TcpStream) -> Option<InboundWatch> {
        None
    }

    /// Unknown.
    pub fn bytes_received(&self) -> Option<u64> {
        None
    }
}
