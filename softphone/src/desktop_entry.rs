//! Quoting by the Desktop Entry specification, shared by the freedesktop
//! URI handler and the window's autostart entry (portable: pure text).

/// Characters that force an `Exec` argument into double quotes (Desktop
/// Entry specification, "The Exec key").
const RESERVED: &[char] = &[
    ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(', ')',
    '`',
];

/// Quotes one `Exec` argument: double quotes when it holds a reserved
/// character (with `"`, `` ` ``, `$` and `\` escaped inside), and `%`
/// doubled. The result is an exec-line word, before string escaping.
pub fn quote_exec_arg(arg: &str) -> String {
    let arg = arg.replace('%', "%%");
    if arg.is_empty() {
        return "\"\"".into();
    }
    if !arg.contains(RESERVED) {
        return arg;
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
