//! `argv-recorder`: a test program that records how it was started, so
//! that the Wine tests can prove the quoting of hook commands on Windows.
//!
//! Each run appends one line to the file named by `$ARGV_RECORDER_OUT`
//! (nothing is written when it is unset): the command line the process
//! received (`GetCommandLineW` on Windows, the arguments joined on Unix)
//! and the argv the C runtime's rules (`CommandLineToArgvW`, which Rust's
//! `std::env::args` follows) made of it, as one JSON object
//! `{"cmdline":"…","argv":["…",…]}`. Then it exits 0.

use std::io::Write as _;

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(windows)]
fn command_line() -> String {
    // SAFETY: GetCommandLineW returns a pointer to the process's own
    // NUL-terminated command line, valid for the life of the process.
    unsafe {
        let p = windows_sys::Win32::System::Environment::GetCommandLineW();
        let mut len = 0;
        while *p.add(len) != 0 {
            len += 1;
        }
        String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
    }
}

#[cfg(not(windows))]
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn main() {
    let Some(out) = std::env::var_os("ARGV_RECORDER_OUT") else {
        return;
    };
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let line = format!(
        "{{\"cmdline\":{},\"argv\":[{}]}}\n",
        json_string(&command_line()),
        argv.iter()
            .map(|a| json_string(a))
            .collect::<Vec<_>>()
            .join(",")
    );
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "argv-recorder: cannot append to {}: {e}",
            out.to_string_lossy()
        );
        std::process::exit(1);
    }
}
