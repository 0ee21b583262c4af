//! Command integration (CMD-1 … CMD-6): command lines split into a program
//! and arguments, rendered per call, run without a shell.
//!
//! A command line is split once, when settings are saved, by the platform's
//! own rules ([`split_windows`]: `CommandLineToArgvW`; [`split_posix`]: POSIX
//! shell words without any expansion). Placeholders are then substituted
//! **inside** single arguments, so nothing a caller sends can add, remove or
//! split an argument. Both splitters are compiled and tested everywhere.
//!
//! **Network values are filtered.** `%CallerNumber%`, `%Exten%`,
//! `%OutLineNumber%` and `%CallId%` keep only the characters
//! `A-Z a-z 0-9 + * # . _ @ -` ([`SAFE_CHARS`]); everything else is dropped
//! and reported. Leading `-` are dropped as well, so a hostile caller ID such
//! as `--config=x` or `-rf` cannot be read as an option by the program
//! (phone numbers never start with `-`; a Call-ID starting with `-` loses
//! it, which is reported). A filtered value is cut to [`MAX_VALUE_CHARS`].
//! Because no `"`, `%`, `^`, `&`, `|`, `<`, `>`, space or control character
//! survives, a value stays inert even when the program is a `.bat`/`.cmd`
//! file that `cmd.exe` re-parses.
//!
//! `%OpId%` and `%OpPW%` come from the operator login, not the network: they
//! are substituted as they are, minus control characters (a NUL cannot be
//! passed to a process). They still stay inside their one argument.

use std::fmt;

use thiserror::Error;

use crate::call::CallValues;
use crate::redact::{REDACTED, log_safe};
use crate::template::{Part, Placeholder, Template, TemplateWarning};

/// The characters a network value may keep in a command argument.
pub const SAFE_CHARS: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+*#._@-";

/// Longest network value substituted into an argument, in characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// True when `c` may appear in a network value inside an argument.
pub fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '*' | '#' | '.' | '_' | '@' | '-')
}

/// Which splitting rules a command line follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// `CommandLineToArgvW` rules.
    Windows,
    /// POSIX shell-word rules, without expansions.
    Posix,
}

impl Platform {
    /// The platform this crate was compiled for.
    pub const fn current() -> Platform {
        if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Posix
        }
    }
}

/// Why a POSIX command line cannot be split.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SplitError {
    /// A `'` is never closed.
    #[error("the single quote at column {column} is never closed (add the closing ')")]
    UnclosedSingleQuote {
        /// 1-based character column of the opening quote.
        column: usize,
    },
    /// A `"` is never closed.
    #[error("the double quote at column {column} is never closed (add the closing \")")]
    UnclosedDoubleQuote {
        /// 1-based character column of the opening quote.
        column: usize,
    },
    /// The line ends with a lone `\`.
    #[error("the line ends with a lone backslash (remove it, or write \\\\ for a backslash)")]
    TrailingBackslash,
}

/// Splits `line` into words by POSIX shell rules: blanks separate words;
/// `'…'` keeps everything literally; `"…"` keeps everything except that `\`
/// escapes `$`, `` ` ``, `"`, `\` and a line break; outside quotes `\`
/// escapes any character, and `\` + line break joins lines.
///
/// Nothing is expanded or interpreted: `$VAR`, `` `…` ``, `$(…)`, `*`, `~`,
/// `#`, `;`, `|`, `&`, `>` are ordinary characters of a word, because the
/// result is never given to a shell.
pub fn split_posix(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => cur.push(c),
                        None => return Err(SplitError::UnclosedSingleQuote { column: i + 1 }),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek() {
                            Some(&(_, e @ ('$' | '`' | '"' | '\\'))) => {
                                cur.push(e);
                                chars.next();
                            }
                            Some(&(_, '\n')) => {
                                chars.next();
                            }
                            Some(_) => cur.push('\\'),
                            None => {
                                return Err(SplitError::UnclosedDoubleQuote { column: i + 1 });
                            }
                        },
                        Some((_, c)) => cur.push(c),
                        None => return Err(SplitError::UnclosedDoubleQuote { column: i + 1 }),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, e)) => {
                    in_word = true;
                    cur.push(e);
                }
                None => return Err(SplitError::TrailingBackslash),
            },
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Splits `line` exactly as Windows' `CommandLineToArgvW` does.
///
/// The program name (first word) has its own simple rule: when the line
/// starts with `"`, it runs to the next `"` (backslashes are literal, and the
/// first argument may follow the closing quote directly); otherwise it runs
/// to the first character in U+0001..=U+0020, with `"` taken literally.
///
/// For the arguments: space and tab separate them outside quotes (other
/// control characters are ordinary); `2n` backslashes before a `"` become
/// `n` backslashes and the quote is special, `2n+1` become `n` backslashes
/// and a literal `"`; backslashes not before a `"` are literal. Runs of
/// special quotes follow the "divide by three" rule: counting the opening
/// quote of a quoted string, `3n` quotes give `n` literal quotes and keep
/// the quoting state, `3n+1` give `n` and toggle it, `3n+2` give `n+1` (in
/// quotes) or `n` (outside) and end quoting. So `""` inside quotes is one
/// literal `"` **and closes the quotes** (the pre-2008 C runtime rule, not
/// the newer one). An empty line gives no words (Windows would give the
/// current program's path). `%NAME%` is not expanded.
pub fn split_windows(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return words;
    }
    let is_blank = |c: char| c == ' ' || c == '\t';
    let mut i = 0;
    // The program name.
    let mut program = String::new();
    if chars[0] == '"' {
        i = 1;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if c == '"' {
                break;
            }
            program.push(c);
        }
    } else {
        while i < chars.len() && !('\u{1}'..=' ').contains(&chars[i]) {
            program.push(chars[i]);
            i += 1;
        }
        if i < chars.len() {
            i += 1;
        }
    }
    words.push(program);
    while i < chars.len() && is_blank(chars[i]) {
        i += 1;
    }
    if i == chars.len() {
        return words;
    }

    // The arguments.
    let mut cur = String::new();
    let mut qcount = 0u32;
    let mut bcount = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if is_blank(c) && qcount == 0 {
            words.push(std::mem::take(&mut cur));
            bcount = 0;
            while i < chars.len() && is_blank(chars[i]) {
                i += 1;
            }
            if i == chars.len() {
                return words;
            }
        } else if c == '\\' {
            cur.push('\\');
            bcount += 1;
            i += 1;
        } else if c == '"' {
            // `cur` ends with the `bcount` backslashes just copied.
            if bcount.is_multiple_of(2) {
                cur.truncate(cur.len() - bcount / 2);
                qcount += 1;
            } else {
                cur.truncate(cur.len() - bcount / 2 - 1);
                cur.push('"');
            }
            bcount = 0;
            i += 1;
            while i < chars.len() && chars[i] == '"' {
                qcount += 1;
                if qcount == 3 {
                    cur.push('"');
                    qcount = 0;
                }
                i += 1;
            }
            if qcount == 2 {
                qcount = 0;
            }
        } else {
            cur.push(c);
            bcount = 0;
            i += 1;
        }
    }
    words.push(cur);
    words
}

/// A command line that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CommandError {
    /// Nothing to run.
    #[error("the command line names no program (write the program's path, then its arguments)")]
    Empty,
    /// Quoting is broken.
    #[error("command line '{line}': {source}")]
    Split {
        /// The line, escaped.
        line: String,
        /// What is wrong.
        source: SplitError,
    },
    /// A line break or other control character.
    #[error(
        "command line '{line}' has a control character at column {column} (write the command on one line)"
    )]
    ControlCharacter {
        /// The line, escaped.
        line: String,
        /// 1-based character column.
        column: usize,
    },
    /// A placeholder in the program name.
    #[error(
        "command line program '{program}' contains {placeholder} (placeholders may only be used in arguments)"
    )]
    PlaceholderInProgram {
        /// The program name.
        program: String,
        /// The placeholder.
        placeholder: Placeholder,
    },
    /// A Windows batch file: Windows runs it through `cmd.exe`, which
    /// parses the whole command line again by its own rules.
    #[error(
        "command line program '{program}' is a batch file (.bat/.cmd), which Windows runs through cmd.exe; \
         bbclient starts programs without a shell (name an .exe, e.g. the CRM's own program)"
    )]
    BatchFile {
        /// The program name.
        program: String,
    },
}

/// Something worth telling the user when saving a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandWarning {
    /// An argument that a shell would have treated specially.
    ShellSyntax {
        /// The argument as split.
        arg: String,
    },
    /// The program is itself a shell or script host, which re-parses its
    /// arguments.
    ShellProgram {
        /// The program.
        program: String,
    },
    /// An unknown `%Name%`.
    UnknownPlaceholder(TemplateWarning),
}

impl fmt::Display for CommandWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandWarning::ShellSyntax { arg } => write!(
                f,
                "'{}' is passed to the program as a plain argument: command lines are not run through a shell (no pipes, redirection, variables or command separators)",
                arg.escape_debug()
            ),
            CommandWarning::ShellProgram { program } => write!(
                f,
                "'{}' is a shell that parses its arguments again; placeholders given to it are filtered but the script must still quote them",
                program.escape_debug()
            ),
            CommandWarning::UnknownPlaceholder(w) => write!(f, "{w}"),
        }
    }
}

/// Program and arguments, ready for `Command::new(program).args(args)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Argv {
    /// The program.
    pub program: String,
    /// The arguments, one per element.
    pub args: Vec<String>,
}

impl fmt::Debug for Argv {
    /// Shows the program and the number of arguments only: an argument may
    /// hold a password. Use `RenderedCommand::for_log` for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argv")
            .field("program", &self.program)
            .field("args", &self.args.len())
            .finish()
    }
}

/// Characters dropped from one network value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Which placeholder's value.
    pub placeholder: Placeholder,
    /// The dropped characters, in order, escaped for logs.
    pub chars: String,
    /// How many characters were dropped.
    pub count: usize,
    /// True when the value was cut to [`MAX_VALUE_CHARS`].
    pub cut: bool,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: dropped {} character(s) outside [A-Za-z0-9+*#._@-] or leading '-': '{}'",
            self.placeholder, self.count, self.chars
        )?;
        if self.cut {
            write!(f, "; cut to {MAX_VALUE_CHARS} characters")?;
        }
        Ok(())
    }
}

/// A command rendered for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedCommand {
    /// What to run.
    pub argv: Argv,
    /// The argument list for logs, with `%OpPW%`'s value shown as `***`.
    pub for_log: String,
    /// What the filter removed from network values.
    pub dropped: Vec<Dropped>,
}

/// A validated command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    platform: Platform,
    program: String,
    args: Vec<Template>,
    warnings: Vec<CommandWarning>,
}

/// Programs that re-parse their arguments as code.
const SHELLS: [&str; 13] = [
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "cmd",
    "powershell",
    "pwsh",
    "wscript",
    "cscript",
    "python",
    "perl",
];

/// Whether Windows would run `program` as a batch file: its name ends in
/// `.bat` or `.cmd`, in any case, trailing dots and spaces aside (Windows
/// drops those from a file name).
fn is_batch_file(program: &str) -> bool {
    let base = program.rsplit(['/', '\\']).next().unwrap_or(program);
    let base = base.trim_end_matches(['.', ' ']).to_ascii_lowercase();
    base.ends_with(".bat") || base.ends_with(".cmd")
}

impl CommandLine {
    /// Splits and checks a command line by `platform`'s rules. On Windows a
    /// batch file (`.bat`, `.cmd`) is refused: `cmd.exe` would parse the
    /// arguments again.
    pub fn parse(line: &str, platform: Platform) -> Result<CommandLine, CommandError> {
        let line = line.trim();
        if let Some((i, _)) = line
            .chars()
            .enumerate()
            .find(|&(_, c)| c.is_control() && c != '\t')
        {
            return Err(CommandError::ControlCharacter {
                line: line.escape_debug().to_string(),
                column: i + 1,
            });
        }
        let words = match platform {
            Platform::Windows => split_windows(line),
            Platform::Posix => split_posix(line).map_err(|source| CommandError::Split {
                line: line.escape_debug().to_string(),
                source,
            })?,
        };
        let mut words = words.into_iter();
        let program = match words.next() {
            Some(p) if !p.is_empty() => p,
            _ => return Err(CommandError::Empty),
        };
        if let Some(placeholder) = Template::parse(&program).placeholders().next() {
            return Err(CommandError::PlaceholderInProgram {
                program,
                placeholder,
            });
        }
        if platform == Platform::Windows && is_batch_file(&program) {
            return Err(CommandError::BatchFile { program });
        }
        let mut warnings = Vec::new();
        let base = program
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&program)
            .to_ascii_lowercase();
        let stem = base
            .strip_suffix(".exe")
            .unwrap_or(&base)
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        if SHELLS.contains(&stem) {
            warnings.push(CommandWarning::ShellProgram {
                program: program.clone(),
            });
        }
        let mut args = Vec::new();
        for word in words {
            if looks_like_shell_syntax(&word) {
                warnings.push(CommandWarning::ShellSyntax { arg: word.clone() });
            }
            let t = Template::parse(&word);
            for w in t.warnings() {
                let w = CommandWarning::UnknownPlaceholder(w.clone());
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            args.push(t);
        }
        Ok(CommandLine {
            platform,
            program,
            args,
            warnings,
        })
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The argument templates.
    pub fn args(&self) -> &[Template] {
        &self.args
    }

    /// The rules it was split by.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Non-blocking problems found when parsing.
    pub fn warnings(&self) -> &[CommandWarning] {
        &self.warnings
    }

    /// True when an argument uses `p`.
    pub fn uses(&self, p: Placeholder) -> bool {
        self.args.iter().any(|a| a.uses(p))
    }

    /// Substitutes the placeholders for one call. The result has exactly as
    /// many arguments as the command line.
    pub fn render(&self, values: &CallValues) -> RenderedCommand {
        let mut dropped: Vec<Dropped> = Vec::new();
        let mut filtered = |p: Placeholder| -> String {
            let (v, d) = filter_value(p, p.value(values));
            if let Some(d) = d
                && !dropped.contains(&d)
            {
                dropped.push(d);
            }
            v
        };
        let mut args = Vec::with_capacity(self.args.len());
        let mut log_args = Vec::with_capacity(self.args.len() + 1);
        log_args.push(self.program.clone());
        for t in &self.args {
            let mut real = String::new();
            let mut log = String::new();
            for part in t.parts() {
                match part {
                    Part::Literal(l) => {
                        real.push_str(l);
                        log.push_str(l);
                    }
                    Part::Placeholder(Placeholder::OpPw) => {
                        real.push_str(&filter_value(Placeholder::OpPw, values.op_pw.expose()).0);
                        log.push_str(REDACTED);
                    }
                    Part::Placeholder(p) => {
                        let v = filtered(*p);
                        real.push_str(&v);
                        log.push_str(&v);
                    }
                }
            }
            args.push(real);
            log_args.push(crate::redact::redact_arg(&log));
        }
        RenderedCommand {
            argv: Argv {
                program: self.program.clone(),
                args,
            },
            for_log: format!("{log_args:?}"),
            dropped,
        }
    }
}

/// An argument a shell would have treated specially.
fn looks_like_shell_syntax(word: &str) -> bool {
    const OPERATORS: [&str; 12] = [
        "|", "||", "&", "&&", ";", ">", ">>", "<", "2>", "2>&1", ">&2", "<<",
    ];
    OPERATORS.contains(&word) || word.contains('$') || word.contains('`')
}

/// Filters one placeholder value (see the module docs); returns the value to
/// substitute and what was dropped, if anything.
pub fn filter_value(p: Placeholder, value: &str) -> (String, Option<Dropped>) {
    if !p.is_from_network() {
        let kept: String = value.chars().filter(|c| !c.is_control()).collect();
        let removed: String = value.chars().filter(|c| c.is_control()).collect();
        let d = (!removed.is_empty()).then(|| Dropped {
            placeholder: p,
            chars: if p == Placeholder::OpPw {
                REDACTED.to_owned()
            } else {
                log_safe(&removed)
            },
            count: removed.chars().count(),
            cut: false,
        });
        return (kept, d);
    }
    let mut kept = String::new();
    let mut removed = String::new();
    let mut count = 0;
    for c in value.chars() {
        if is_safe_char(c) && !(c == '-' && kept.is_empty()) {
            kept.push(c);
        } else {
            count += 1;
            if removed.chars().count() < 64 {
                removed.push(c);
            }
        }
    }
    let cut = kept.chars().count() > MAX_VALUE_CHARS;
    if cut {
        kept = kept.chars().take(MAX_VALUE_CHARS).collect();
    }
    let d = (count > 0 || cut).then(|| Dropped {
        placeholder: p,
        chars: log_safe(&removed),
        count,
        cut,
    });
    (kept, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn values() -> CallValues {
        CallValues {
            caller_number: "09012345678".into(),
            exten: "1910".into(),
            outline_number: "0312345678".into(),
            call_id: "abc-1@pbx.test".into(),
            op_id: "op 1".into(),
            op_pw: Secret::new("p w\"&".into()),
        }
    }

    const GUIDE: &str =
        r#""C:\Program Files (x86)\testcrm\crm.exe" %CallerNumber% %OutLineNumber%"#;

    #[test]
    fn guide_example_windows() {
        assert_eq!(
            split_windows(GUIDE),
            s(&[
                r"C:\Program Files (x86)\testcrm\crm.exe",
                "%CallerNumber%",
                "%OutLineNumber%"
            ])
        );
        let c = CommandLine::parse(GUIDE, Platform::Windows).unwrap();
        let r = c.render(&values());
        assert_eq!(r.argv.program, r"C:\Program Files (x86)\testcrm\crm.exe");
        assert_eq!(r.argv.args, s(&["09012345678", "0312345678"]));
        assert!(r.dropped.is_empty());
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn guide_example_posix() {
        // Inside double quotes a POSIX backslash escapes only $ ` " \ and a
        // line break, so the guide's line splits the same way.
        assert_eq!(split_posix(GUIDE).unwrap(), split_windows(GUIDE));
        // Outside quotes it escapes the next character.
        assert_eq!(
            split_posix(r"C:\dir\crm.exe").unwrap(),
            s(&["C:dircrm.exe"])
        );
        let c = CommandLine::parse(
            "'/opt/test crm/crm' %CallerNumber% %OutLineNumber%",
            Platform::Posix,
        )
        .unwrap();
        let r = c.render(&values());
        assert_eq!(r.argv.program, "/opt/test crm/crm");
        assert_eq!(r.argv.args, s(&["09012345678", "0312345678"]));
    }

    #[test]
    fn windows_rules() {
        // Vectors from Wine's shell32 conformance tests, which run against
        // the real CommandLineToArgvW.
        let cases: &[(&str, &[&str])] = &[
            ("exe", &["exe"]),
            (
                r#"exe arg1 arg2 "arg three" 'four five` six\ $even)"#,
                &[
                    "exe",
                    "arg1",
                    "arg2",
                    "arg three",
                    "'four",
                    "five`",
                    r"six\",
                    "$even)",
                ],
            ),
            (
                "exe arg=1 arg-2 three\tfour\rfour\nfour ",
                &["exe", "arg=1", "arg-2", "three", "four\rfour\nfour"],
            ),
            (
                r#"exe arg"one" "second"arg thirdarg "#,
                &["exe", "argone", "secondarg", "thirdarg"],
            ),
            (r#"exe arg1 "unclosed"#, &["exe", "arg1", "unclosed"]),
            (r#"exe arg1 ""#, &["exe", "arg1", ""]),
            (
                r#"exe "one^" "arg"&two three|four"#,
                &["exe", "one^", "arg&two", "three|four"],
            ),
            ("exe %TMPDIR% %2", &["exe", "%TMPDIR%", "%2"]),
            (
                r"exe o\ne t\\wo t\\\ree f\\\\our ",
                &["exe", r"o\ne", r"t\\wo", r"t\\\ree", r"f\\\\our"],
            ),
            (
                r#"exe \"one \\"two" \\\"three \\\\"four" end"#,
                &["exe", r#""one"#, r"\two", r#"\"three"#, r"\\four", "end"],
            ),
            (
                r#"exe "one\" still" "two\\" "three\\\" still" "four\\\\" end"#,
                &[
                    "exe",
                    r#"one" still"#,
                    r"two\",
                    r#"three\" still"#,
                    r"four\\",
                    "end",
                ],
            ),
            (r#"exe two""quotes next"#, &["exe", "twoquotes", "next"]),
            (
                r#"exe three"""quotes next"#,
                &["exe", r#"three"quotes"#, "next"],
            ),
            (
                r#"exe four"""" quotes" next 4%3=1"#,
                &["exe", r#"four" quotes"#, "next", "4%3=1"],
            ),
            (
                r#"exe six""""""quotes next"#,
                &["exe", r#"six""quotes"#, "next"],
            ),
            (
                r#"exe "two""quotes next"#,
                &["exe", r#"two"quotes"#, "next"],
            ),
            (r#"exe "two"" next"#, &["exe", r#"two""#, "next"]),
            (
                r#"exe "three""" quotes" next 4%3=1"#,
                &["exe", r#"three" quotes"#, "next", "4%3=1"],
            ),
            (
                r#"exe "five"""""quotes next"#,
                &["exe", r#"five""quotes"#, "next"],
            ),
            (
                r#"exe "the crazy \\"""\\" quotes"#,
                &["exe", r#"the crazy \"\"#, "quotes"],
            ),
            (r#"exe"file"path arg1"#, &[r#"exe"file"path"#, "arg1"]),
            ("exe\"file\"path\targ1", &[r#"exe"file"path"#, "arg1"]),
            (r#"exe"path\ arg1"#, &[r#"exe"path\"#, "arg1"]),
            (r#"\"exe "arg one""#, &[r#"\"exe"#, "arg one"]),
            (r#""spaced exe" "next arg""#, &["spaced exe", "next arg"]),
            (r#""exe"arg" one" argtwo"#, &["exe", "arg one", "argtwo"]),
            (
                r#""spaced exe\"arg1 arg2"#,
                &[r"spaced exe\", "arg1", "arg2"],
            ),
            (r#""two"" arg1 "#, &["two", " arg1 "]),
            (r#""three""" arg2"#, &["three", "", "arg2"]),
            (r#""four""""arg1"#, &["four", r#""arg1"#]),
            (r#" "arg"one argtwo"#, &["", "argone", "argtwo"]),
            // Not in Wine's table.
            (r#"prog a\b\c"#, &["prog", r"a\b\c"]),
            ("prog\t a \t b  ", &["prog", "a", "b"]),
        ];
        for (line, want) in cases {
            assert_eq!(split_windows(line), s(want), "line {line}");
        }
        assert!(split_windows("").is_empty());
    }

    #[test]
    fn posix_rules() {
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("'a b' \"c d\"", &["a b", "c d"]),
            (r#"a\ b"#, &["a b"]),
            (r#""a\"b" 'c\d'"#, &[r#"a"b"#, r"c\d"]),
            (r#""\$x \q""#, &[r"$x \q"]),
            ("'' \"\"", &["", ""]),
            (
                "$HOME `id` $(id) * ~ #c ; | &",
                &["$HOME", "`id`", "$(id)", "*", "~", "#c", ";", "|", "&"],
            ),
            ("a\\\nb", &["ab"]),
            ("a'b'\"c\"d", &["abcd"]),
            ("  ", &[]),
        ];
        for (line, want) in cases {
            assert_eq!(split_posix(line).unwrap(), s(want), "line {line:?}");
        }
    }

    #[test]
    fn posix_errors() {
        assert_eq!(
            split_posix("a 'b"),
            Err(SplitError::UnclosedSingleQuote { column: 3 })
        );
        assert_eq!(
            split_posix("\"b"),
            Err(SplitError::UnclosedDoubleQuote { column: 1 })
        );
        assert_eq!(split_posix("a\\"), Err(SplitError::TrailingBackslash));
        let e = CommandLine::parse("crm 'x", Platform::Posix).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command line 'crm \\'x': the single quote at column 5 is never closed (add the closing ')"
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            CommandLine::parse("  ", Platform::Posix),
            Err(CommandError::Empty)
        );
        assert_eq!(
            CommandLine::parse("\"\" a", Platform::Windows),
            Err(CommandError::Empty)
        );
        assert!(matches!(
            CommandLine::parse("crm\n%CallerNumber%", Platform::Posix),
            Err(CommandError::ControlCharacter { column: 4, .. })
        ));
        for batch in [
            r#""C:\Program Files\crm\pop.bat" %CallerNumber%"#,
            r"C:\crm\POP.CMD %CallerNumber%",
            r"C:\crm\pop.bat. x",
            r#""C:\crm\pop.cmd  " x"#,
            "pop.Bat",
        ] {
            let e = CommandLine::parse(batch, Platform::Windows).unwrap_err();
            assert!(matches!(e, CommandError::BatchFile { .. }), "{batch}: {e}");
            assert!(e.to_string().contains("cmd.exe"), "{e}");
        }
        // Only Windows runs them through cmd.exe; names that merely
        // contain the letters are fine.
        assert!(CommandLine::parse("/opt/crm/pop.bat %CallerNumber%", Platform::Posix).is_ok());
        assert!(CommandLine::parse(r"C:\crm\batcher.exe x.bat", Platform::Windows).is_ok());
        let e = CommandLine::parse("%OpId%.exe x", Platform::Windows).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command line program '%OpId%.exe' contains %OpId% (placeholders may only be used in arguments)"
        );
    }

    #[test]
    fn warnings_for_shell_syntax() {
        let c = CommandLine::parse("crm %CallerNumber% > /tmp/log", Platform::Posix).unwrap();
        assert_eq!(
            c.warnings(),
            &[CommandWarning::ShellSyntax { arg: ">".into() }]
        );
        let c = CommandLine::parse("/bin/sh -c 'crm %CallerNumber%'", Platform::Posix).unwrap();
        assert!(matches!(
            c.warnings()[0],
            CommandWarning::ShellProgram { .. }
        ));
        let c =
            CommandLine::parse(r"C:\Windows\System32\cmd.exe /c x.bat", Platform::Windows).unwrap();
        assert!(matches!(
            c.warnings()[0],
            CommandWarning::ShellProgram { .. }
        ));
        let c = CommandLine::parse("crm %callerNumber%", Platform::Posix).unwrap();
        assert!(matches!(
            c.warnings()[0],
            CommandWarning::UnknownPlaceholder(_)
        ));
    }

    #[test]
    fn placeholders_inside_one_argument() {
        let c = CommandLine::parse(
            r#"crm "--from=%CallerNumber% to %Exten%" --id=%OpId% --pw=%OpPW% %CallId%"#,
            Platform::Posix,
        )
        .unwrap();
        let r = c.render(&values());
        assert_eq!(
            r.argv.args,
            s(&[
                "--from=09012345678 to 1910",
                "--id=op 1",
                "--pw=p w\"&",
                "abc-1@pbx.test"
            ])
        );
        assert!(r.for_log.contains("--pw=***"), "{}", r.for_log);
        assert!(!r.for_log.contains("p w"));
        assert!(!format!("{:?}", r.argv).contains("p w"));
    }

    #[test]
    fn hostile_caller_is_filtered() {
        let c = CommandLine::parse("crm %CallerNumber%", Platform::Posix).unwrap();
        let mut v = values();
        v.caller_number = "--rf \"; rm -rf / & calc.exe | `id` $(id) %PATH% 0901\n\0あ".into();
        let r = c.render(&v);
        assert_eq!(r.argv.args.len(), 1);
        assert_eq!(r.argv.args[0], "rfrm-rfcalc.exeididPATH0901");
        assert_eq!(r.dropped.len(), 1);
        assert_eq!(r.dropped[0].placeholder, Placeholder::CallerNumber);
        assert!(r.dropped[0].to_string().contains("dropped"));
    }

    #[test]
    fn leading_dashes_dropped_inner_kept() {
        let (v, d) = filter_value(Placeholder::CallId, "--a-b");
        assert_eq!(v, "a-b");
        assert_eq!(d.map(|d| d.count), Some(2));
        let (v, d) = filter_value(Placeholder::CallerNumber, "+81-3-1234");
        assert_eq!(v, "+81-3-1234");
        assert!(d.is_none());
    }

    #[test]
    fn safe_chars_constant_matches_predicate() {
        for c in '\0'..='\u{2FF}' {
            assert_eq!(SAFE_CHARS.contains(c), is_safe_char(c), "{c:?}");
        }
    }

    #[test]
    fn long_values_are_cut() {
        let (v, d) = filter_value(Placeholder::CallerNumber, &"9".repeat(1000));
        assert_eq!(v.len(), MAX_VALUE_CHARS);
        assert!(d.is_some_and(|d| d.cut && d.count == 0));
    }

    #[test]
    fn operator_values_lose_only_controls() {
        let (v, d) = filter_value(Placeholder::OpPw, "a b\0c&");
        assert_eq!(v, "a bc&");
        let d = d.unwrap();
        assert_eq!(d.chars, "***");
        assert_eq!(d.count, 1);
    }
}
