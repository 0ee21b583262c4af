//! Call history (CALL-3): every call with its direction, number, outside
//! line, start, talk time and result, kept in SQLite in the user's data
//! directory.
//!
//! Two parts. [`Tracker`] is pure: it follows the event stream
//! ([`bb_verbs::wire::Event`]) and, when a call ends, returns its finished
//! [`HistoryRow`]. [`History`] is the thin store around it: it opens the
//! database, feeds the tracker with [`History::record`] and writes the rows
//! it returns; [`History::recent`] reads them back, newest first, for the
//! window.
//!
//! # Who writes, who reads
//!
//! The running softphone's core ([`crate::app`]) records every call, with or
//! without a window: it opens the file with [`History::open`] and stores a
//! call's row before it publishes the call's `hung_up` event. The window
//! opens the same file with [`History::open_viewer`], whose
//! [`History::record`] stores nothing, and re-reads the rows when a call
//! hangs up. The file is in WAL mode, so the reader never blocks the writer.
//!
//! # Where
//!
//! [`path_for`]: `$BBCLIENT_HISTORY` when set; else `[history] path`; else
//! `$XDG_DATA_HOME/bbclient/history.sqlite3` (by default
//! `~/.local/share/bbclient/`) for the instance `default` and
//! `history-NAME.sqlite3` beside it for `--instance NAME`, so softphones run
//! side by side keep separate histories. Tests open a path of their own or
//! [`History::open_in_memory`]. The directory is created 0700 and the file
//! made 0600: numbers are personal data.
//!
//! # Matching
//!
//! Every event of a call carries its Call-ID, except — with a SIP driver
//! that cannot tell it before the INVITE is sent — the `ringing` event of an
//! outgoing call; then the first `answered` or `hung_up` event whose
//! Call-ID is unknown is given to the oldest such call (the same rule as
//! the window's line model).
//!
//! # What it won't do
//!
//! It never stores a password, and it does not know the outside line unless
//! told: the wire `ringing` event does not carry it, so
//! [`Tracker::note_outside_line`] is there for whoever knows it (the core
//! passes the called outside line of incoming calls, `%OutLineNumber%`).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bb_verbs::wire::{Direction, Event, EventKind, HangupCause};
use rusqlite::{Connection, params};

/// How a call ended, as the history shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallResult {
    /// Answered and talked (ended by either side).
    Answered,
    /// Incoming, never answered: the caller gave up or it rang out.
    Missed,
    /// Outgoing: the other party was busy.
    Busy,
    /// Outgoing: nobody answered.
    NoAnswer,
    /// Refused (by us for an incoming call, by the far end or the server
    /// for an outgoing one).
    Rejected,
    /// Outgoing, given up by us before it was answered.
    Cancelled,
    /// Handed over to someone else.
    Transferred,
    /// Signalling or media failed.
    Failed,
}

impl CallResult {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Answered => "answered",
            CallResult::Missed => "missed",
            CallResult::Busy => "busy",
            CallResult::NoAnswer => "no_answer",
            CallResult::Rejected => "rejected",
            CallResult::Cancelled => "cancelled",
            CallResult::Transferred => "transferred",
            CallResult::Failed => "failed",
        }
    }

    /// The result for a stored word.
    pub fn parse(word: &str) -> Option<CallResult> {
        Some(match word {
            "answered" => CallResult::Answered,
            "missed" => CallResult::Missed,
            "busy" => CallResult::Busy,
            "no_answer" => CallResult::NoAnswer,
            "rejected" => CallResult::Rejected,
            "cancelled" => CallResult::Cancelled,
            "transferred" => CallResult::Transferred,
            "failed" => CallResult::Failed,
            _ => return None,
        })
    }

    /// The result of a call that ended with `cause`, `answered` or not.
    pub fn from_end(direction: Direction, answered: bool, cause: HangupCause) -> CallResult {
        match (cause, answered, direction) {
            (HangupCause::Transferred, _, _) => CallResult::Transferred,
            (HangupCause::Failed, false, _) => CallResult::Failed,
            (_, true, _) => CallResult::Answered,
            (HangupCause::Local | HangupCause::Rejected, false, Direction::Incoming) => {
                CallResult::Rejected
            }
            (_, false, Direction::Incoming) => CallResult::Missed,
            (HangupCause::Busy, false, Direction::Outgoing) => CallResult::Busy,
            (HangupCause::NoAnswer, false, Direction::Outgoing) => CallResult::NoAnswer,
            (HangupCause::Rejected, false, Direction::Outgoing) => CallResult::Rejected,
            (_, false, Direction::Outgoing) => CallResult::Cancelled,
        }
    }
}

/// One finished call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    /// The database row ID (0 before it is stored).
    pub id: i64,
    /// SIP Call-ID (empty when never learnt).
    pub call_id: String,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// The other party's number (empty when withheld).
    pub number: String,
    /// The company outside line called, when known.
    pub outside_line: Option<String>,
    /// When it started ringing, in ms since the Unix epoch.
    pub started_at_ms: i64,
    /// Talk time in ms (0 if never answered).
    pub duration_ms: u64,
    /// How it ended.
    pub result: CallResult,
}

#[derive(Clone, Debug)]
struct OpenCall {
    call_id: Option<String>,
    direction: Direction,
    number: String,
    outside_line: Option<String>,
    started_at_ms: i64,
    answered: bool,
}

/// Follows the events of calls until they end (pure; see the module
/// documentation).
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    open: Vec<OpenCall>,
}

impl Tracker {
    /// A tracker with no call open.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Records the outside line a call came in on, when the caller knows it.
    pub fn note_outside_line(&mut self, call_id: &str, line: &str) {
        if let Some(c) = self
            .open
            .iter_mut()
            .find(|c| c.call_id.as_deref() == Some(call_id))
        {
            c.outside_line = Some(line.to_owned()).filter(|l| !l.is_empty());
        }
    }

    /// Takes one event at `now_ms` (Unix ms); returns the finished row when
    /// a call ends.
    pub fn on_event(&mut self, event: &Event, now_ms: i64) -> Option<HistoryRow> {
        let id = event.call_id.as_deref().filter(|s| !s.is_empty());
        match &event.event {
            EventKind::Ringing {
                direction,
                remote_number,
            } => {
                if id.is_some_and(|id| self.index_of(id).is_some()) {
                    return None;
                }
                self.open.push(OpenCall {
                    call_id: id.map(str::to_owned),
                    direction: *direction,
                    number: remote_number.clone().unwrap_or_default(),
                    outside_line: None,
                    started_at_ms: now_ms,
                    answered: false,
                });
                None
            }
            EventKind::Answered => {
                let i = self.find(id)?;
                let call = &mut self.open[i];
                call.answered = true;
                if call.call_id.is_none() {
                    call.call_id = id.map(str::to_owned);
                }
                None
            }
            EventKind::HungUp { cause, duration_ms } => {
                let i = self.find(id)?;
                let call = self.open.remove(i);
                let answered = call.answered || *duration_ms > 0;
                Some(HistoryRow {
                    id: 0,
                    call_id: call.call_id.or(id.map(str::to_owned)).unwrap_or_default(),
                    direction: call.direction,
                    number: call.number,
                    outside_line: call.outside_line,
                    started_at_ms: call.started_at_ms,
                    duration_ms: *duration_ms,
                    result: CallResult::from_end(call.direction, answered, *cause),
                })
            }
            _ => None,
        }
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.open
            .iter()
            .position(|c| c.call_id.as_deref() == Some(id))
    }

    fn find(&self, id: Option<&str>) -> Option<usize> {
        id.and_then(|id| self.index_of(id)).or_else(|| {
            self.open
                .iter()
                .position(|c| c.call_id.is_none() && c.direction == Direction::Outgoing)
        })
    }
}

/// A history problem, one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// No data directory could be found.
    #[error(
        "cannot find a data directory for the call history (set HOME or XDG_DATA_HOME to an absolute path)"
    )]
    NoDataDir,
    /// The directory or file could not be prepared.
    #[error("call history '{path}': {action}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// SQLite refused.
    #[error("call history '{path}': {source} (move the file away to start a new history)")]
    Sql {
        /// The database.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// `$XDG_DATA_HOME/bbclient/history.sqlite3`; on Windows
/// `%LOCALAPPDATA%\BlueBean\bbclient\data\history.sqlite3` (the history
/// stays on this machine, it does not roam).
pub fn default_path() -> Result<PathBuf, HistoryError> {
    directories::ProjectDirs::from("", "BlueBean", "bbclient")
        .map(|d| d.data_local_dir().join("history.sqlite3"))
        .ok_or(HistoryError::NoDataDir)
}

/// The environment variable that overrides where the history is kept.
pub const PATH_ENV: &str = "BBCLIENT_HISTORY";

/// Where the history of `instance` is kept: `$BBCLIENT_HISTORY` (read
/// through `env`) when set and not empty, else `configured` (`[history]
/// path`), else [`default_path`] for the instance `default` and
/// `history-NAME.sqlite3` in the same directory for any other.
pub fn path_for(
    instance: &str,
    configured: Option<&Path>,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<PathBuf, HistoryError> {
    if let Some(p) = env(PATH_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    let default = default_path()?;
    if instance == "default" {
        return Ok(default);
    }
    Ok(default.with_file_name(format!("history-{instance}.sqlite3")))
}

/// The call history store.
pub struct History {
    conn: Connection,
    path: PathBuf,
    tracker: Tracker,
    /// Opened by [`History::open_viewer`]: `record` stores nothing.
    viewer: bool,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    number TEXT NOT NULL,
    outside_line TEXT,
    started_at_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at_ms);";

impl History {
    /// Opens (creating) the history at `path`: the directory 0700, the file
    /// 0600.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let io = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| HistoryError::Io {
                path: p,
                action,
                source,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::platform::create_private_dir_all(dir)
                .map_err(io("cannot create its directory", dir))?;
        }
        // Created 0600 before SQLite opens it: SQLite gives the -wal and
        // -shm files the database file's mode.
        crate::platform::private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("cannot create it", path))?;
        crate::platform::make_private(path).map_err(io("cannot make it private (0600)", path))?;
        let conn = Connection::open(path).map_err(|source| HistoryError::Sql {
            path: path.to_path_buf(),
            source,
        })?;
        let history = History::with_connection(conn, path.to_path_buf())?;
        // Left by an older version with the umask's mode.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            let side = std::path::PathBuf::from(side);
            if side.exists() {
                crate::platform::make_private(&side)
                    .map_err(io("cannot make it private (0600)", &side))?;
            }
        }
        Ok(history)
    }

    /// Opens (creating) the history at `path` for reading only what the
    /// core records: [`History::record`] stores nothing and returns
    /// `Ok(None)` (see the module documentation).
    pub fn open_viewer(path: &Path) -> Result<History, HistoryError> {
        let mut h = History::open(path)?;
        h.viewer = true;
        Ok(h)
    }

    /// Whether this history was opened with [`History::open_viewer`].
    pub fn is_viewer(&self) -> bool {
        self.viewer
    }

    /// A history in memory (tests, or when no file can be opened).
    pub fn open_in_memory() -> Result<History, HistoryError> {
        let conn = Connection::open_in_memory().map_err(|source| HistoryError::Sql {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        History::with_connection(conn, PathBuf::from(":memory:"))
    }

    fn with_connection(conn: Connection, path: PathBuf) -> Result<History, HistoryError> {
        let sql = |source| HistoryError::Sql {
            path: path.clone(),
            source,
        };
        // The core writes while the window reads: wait for a lock rather
        // than fail, and keep writers and readers apart with WAL (in memory
        // the journal mode stays "memory").
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(sql)?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map_err(sql)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(History {
            conn,
            path,
            tracker: Tracker::new(),
            viewer: false,
        })
    }

    /// Where it is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        |source| HistoryError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Takes over the calls in progress that `old` was following, so that
    /// they are recorded here when they end (the history file changed
    /// while they were up).
    pub fn take_calls_from(&mut self, old: &mut History) {
        self.tracker = std::mem::replace(&mut old.tracker, Tracker::new());
    }

    /// See [`Tracker::note_outside_line`].
    pub fn note_outside_line(&mut self, call_id: &str, line: &str) {
        self.tracker.note_outside_line(call_id, line);
    }

    /// Takes one event at `now`; stores and returns the row of a call that
    /// ended. A viewer stores nothing.
    pub fn record(
        &mut self,
        event: &Event,
        now: SystemTime,
    ) -> Result<Option<HistoryRow>, HistoryError> {
        if self.viewer {
            return Ok(None);
        }
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        match self.tracker.on_event(event, now_ms) {
            Some(mut row) => {
                row.id = self.insert(&row)?;
                Ok(Some(row))
            }
            None => Ok(None),
        }
    }

    /// Stores a row; returns its ID.
    pub fn insert(&mut self, row: &HistoryRow) -> Result<i64, HistoryError> {
        let direction = match row.direction {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        };
        self.conn
            .execute(
                "INSERT INTO calls (call_id, direction, number, outside_line, started_at_ms, duration_ms, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.call_id,
                    direction,
                    row.number,
                    row.outside_line,
                    row.started_at_ms,
                    i64::try_from(row.duration_ms).unwrap_or(i64::MAX),
                    row.result.as_str(),
                ],
            )
            .map_err(self.sql())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The last `limit` calls, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<HistoryRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, call_id, direction, number, outside_line, started_at_ms, duration_ms, result
                 FROM calls ORDER BY started_at_ms DESC, id DESC LIMIT ?1",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                let direction: String = r.get(2)?;
                let result: String = r.get(7)?;
                let duration: i64 = r.get(6)?;
                Ok(HistoryRow {
                    id: r.get(0)?,
                    call_id: r.get(1)?,
                    direction: if direction == "outgoing" {
                        Direction::Outgoing
                    } else {
                        Direction::Incoming
                    },
                    number: r.get(3)?,
                    outside_line: r.get(4)?,
                    started_at_ms: r.get(5)?,
                    duration_ms: u64::try_from(duration).unwrap_or(0),
                    result: CallResult::parse(&result).unwrap_or(CallResult::Failed),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// A start time as local `YYYY-MM-DD HH:MM:SS` (SQLite's `localtime`,
    /// which follows `TZ`).
    pub fn local_time(&self, started_at_ms: i64) -> String {
        self.conn
            .query_row(
                "SELECT datetime(?1 / 1000, 'unixepoch', 'localtime')",
                params![started_at_ms],
                |r| r.get::<_, String>(0),
            )
            .unwrap_or_default()
    }
}

/// A talk time as `M:SS` or `H:MM:SS`.
pub fn format_duration(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ev(kind: EventKind, id: Option<&str>) -> Event {
        let e = Event::new(kind);
        match id {
            Some(id) => e.with_call(id),
            None => e,
        }
    }

    fn ring(direction: Direction, number: &str, id: Option<&str>) -> Event {
        ev(
            EventKind::Ringing {
                direction,
                remote_number: Some(number.into()),
            },
            id,
        )
    }

    fn end(cause: HangupCause, duration_ms: u64, id: Option<&str>) -> Event {
        ev(EventKind::HungUp { cause, duration_ms }, id)
    }

    #[test]
    fn answered_incoming_call() {
        let mut t = Tracker::new();
        assert_eq!(
            t.on_event(&ring(Direction::Incoming, "0312345678", Some("c1")), 1000),
            None
        );
        t.note_outside_line("c1", "0501234567");
        assert_eq!(t.on_event(&ev(EventKind::Answered, Some("c1")), 2000), None);
        let row = t
            .on_event(&end(HangupCause::Remote, 61_000, Some("c1")), 63_000)
            .expect("a finished call");
        assert_eq!(
            row,
            HistoryRow {
                id: 0,
                call_id: "c1".into(),
                direction: Direction::Incoming,
                number: "0312345678".into(),
                outside_line: Some("0501234567".into()),
                started_at_ms: 1000,
                duration_ms: 61_000,
                result: CallResult::Answered,
            }
        );
    }

    #[test]
    fn outgoing_call_learns_its_call_id_from_the_answer() {
        let mut t = Tracker::new();
        t.on_event(&ring(Direction::Outgoing, "1330", None), 10);
        t.on_event(&ev(EventKind::Answered, Some("out")), 20);
        let row = t
            .on_event(&end(HangupCause::Local, 5000, Some("out")), 30)
            .expect("a finished call");
        assert_eq!(row.call_id, "out");
        assert_eq!(row.result, CallResult::Answered);
        assert_eq!(row.direction, Direction::Outgoing);
    }

    #[test]
    fn results_of_unanswered_calls() {
        use CallResult::*;
        use Direction::*;
        let cases = [
            (Incoming, HangupCause::Cancelled, Missed),
            (Incoming, HangupCause::Remote, Missed),
            (Incoming, HangupCause::Local, Rejected),
            (Incoming, HangupCause::Rejected, Rejected),
            (Outgoing, HangupCause::Busy, Busy),
            (Outgoing, HangupCause::NoAnswer, NoAnswer),
            (Outgoing, HangupCause::Rejected, Rejected),
            (Outgoing, HangupCause::Local, Cancelled),
            (Outgoing, HangupCause::Failed, Failed),
            (Incoming, HangupCause::Transferred, Transferred),
        ];
        for (dir, cause, expected) in cases {
            let mut t = Tracker::new();
            t.on_event(&ring(dir, "1", Some("x")), 0);
            let row = t.on_event(&end(cause, 0, Some("x")), 1).expect("row");
            assert_eq!(row.result, expected, "{dir:?} {cause:?}");
        }
    }

    #[test]
    fn unknown_hangups_are_ignored() {
        let mut t = Tracker::new();
        assert_eq!(
            t.on_event(&end(HangupCause::Remote, 0, Some("zz")), 1),
            None
        );
        t.on_event(&ring(Direction::Incoming, "1", Some("a")), 0);
        assert_eq!(t.on_event(&end(HangupCause::Remote, 0, Some("b")), 1), None);
    }

    #[test]
    fn store_round_trip_newest_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join("history.sqlite3");
        let mut h = History::open(&path).expect("open");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        h.record(&ring(Direction::Incoming, "0312345678", Some("c1")), t0)
            .expect("record");
        h.record(&ev(EventKind::Answered, Some("c1")), t0)
            .expect("record");
        let row = h
            .record(
                &end(HangupCause::Remote, 3000, Some("c1")),
                t0 + Duration::from_secs(3),
            )
            .expect("record")
            .expect("row");
        assert!(row.id > 0);
        let t1 = t0 + Duration::from_secs(60);
        h.record(&ring(Direction::Outgoing, "1330", None), t1)
            .expect("record");
        h.record(&end(HangupCause::Busy, 0, Some("")), t1)
            .expect("record");
        drop(h);
        let h = History::open(&path).expect("reopen");
        let rows = h.recent(10).expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].number, "1330");
        assert_eq!(rows[0].result, CallResult::Busy);
        assert_eq!(rows[1].number, "0312345678");
        assert_eq!(rows[1].duration_ms, 3000);
        assert_eq!(h.recent(1).expect("rows").len(), 1);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The WAL and its index are as private as the file.
        let mut seen = 0;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            if let Ok(meta) = std::fs::metadata(std::path::PathBuf::from(side)) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{suffix}");
                seen += 1;
            }
        }
        assert!(
            seen > 0,
            "no -wal or -shm file: is the history still in WAL mode?"
        );
    }

    #[test]
    fn the_core_writes_and_a_viewer_reads_the_same_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.sqlite3");
        let mut core = History::open(&path).expect("open");
        let mut viewer = History::open_viewer(&path).expect("viewer");
        assert!(viewer.is_viewer() && !core.is_viewer());
        let t0 = SystemTime::now();
        for e in [
            ring(Direction::Incoming, "0312345678", Some("c1")),
            end(HangupCause::Cancelled, 0, Some("c1")),
        ] {
            // The viewer stores nothing, whatever it is shown.
            assert_eq!(viewer.record(&e, t0).expect("viewer record"), None);
            core.record(&e, t0).expect("core record");
        }
        let rows = viewer.recent(10).expect("rows");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].result, CallResult::Missed);
        assert_eq!(core.recent(10).expect("rows").len(), 1);
    }

    #[test]
    fn where_the_history_is() {
        let none = |_: &str| None;
        let base = default_path().expect("a data dir in tests");
        assert_eq!(path_for("default", None, &none).expect("path"), base);
        assert_eq!(
            path_for("desk2", None, &none).expect("path"),
            base.with_file_name("history-desk2.sqlite3")
        );
        let cfg = Path::new("/srv/h.sqlite3");
        assert_eq!(path_for("desk2", Some(cfg), &none).expect("path"), cfg);
        let env = |name: &str| (name == PATH_ENV).then(|| std::ffi::OsString::from("/tmp/e.db"));
        assert_eq!(
            path_for("desk2", Some(cfg), &env).expect("path"),
            Path::new("/tmp/e.db")
        );
        let empty = |_: &str| Some(std::ffi::OsString::new());
        assert_eq!(path_for("default", Some(cfg), &empty).expect("path"), cfg);
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0), "0:00");
        assert_eq!(format_duration(61_000), "1:01");
        assert_eq!(format_duration(3_723_000), "1:02:03");
    }
}
