//! The one publisher of a running core's events, on a thread of its own that
//! also writes the call history.
//!
//! Storing a finished call is an SQLite commit (a WAL write, sometimes an
//! fsync): milliseconds that must not be spent on the async workers the SIP
//! driver and the app loop run on. So the app loop hands every event to this
//! thread instead of broadcasting it itself; the thread records it in the
//! history ([`History::record`]) and then broadcasts it. Two guarantees
//! follow and are kept on purpose:
//!
//! * a call's row is stored before its `hung_up` event reaches anyone (the
//!   window re-reads the file on `hung_up`);
//! * events leave in the order they were handed in, from the app loop and
//!   from the hook driver alike (one channel, one thread), so a call's
//!   `ringing` is always seen before that call's `hook` events.
//!
//! [`Publisher::flush`] waits until everything handed in so far is stored
//! and published (the app loop calls it before it ends, so the last call's
//! row is not lost when the process exits).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::SystemTime;

use bb_verbs::wire::{Direction, Event};
use tokio::sync::oneshot;

use crate::control::EventFeed;
use crate::history::History;

enum Msg {
    /// Record (when a history is kept) and broadcast.
    Event(Event, SystemTime),
    /// The outside line of a call that rang (for its row).
    OutsideLine { call_id: String, line: String },
    /// Answer once everything before it is done.
    Flush(oneshot::Sender<()>),
    /// Record into another file from now on (`None`: stop recording).
    Switch(Option<PathBuf>, oneshot::Sender<Result<(), String>>),
}

/// Hands events to the publisher thread. Cheap to clone; sending never
/// blocks.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Msg>,
    /// Used directly if the thread could not be started.
    events: EventFeed,
    threaded: bool,
}

impl Publisher {
    /// Starts the thread that records into `history` (if any) and
    /// broadcasts on `events`. If no thread can be started, events are
    /// broadcast directly and the history is not written (said once).
    pub fn start(history: Option<History>, events: EventFeed) -> Publisher {
        let (tx, rx) = mpsc::channel::<Msg>();
        let out = events.clone();
        let started = std::thread::Builder::new()
            .name("bbclient-history".into())
            .spawn(move || serve(rx, history, out));
        let threaded = match started {
            Ok(_) => true,
            Err(e) => {
                let line =
                    format!("cannot start the call-history thread: {e}; calls are not recorded");
                crate::logging::say(&line);
                tracing::warn!("{line}");
                false
            }
        };
        Publisher {
            tx,
            events,
            threaded,
        }
    }

    /// Records (when it ends a call) and publishes `event`, after everything
    /// handed in before it.
    pub fn publish(&self, event: Event) {
        if !self.threaded {
            self.events.send(event);
            return;
        }
        if let Err(mpsc::SendError(Msg::Event(event, _))) =
            self.tx.send(Msg::Event(event, SystemTime::now()))
        {
            // The thread is gone (it only ends when every sender is): still
            // publish.
            self.events.send(event);
        }
    }

    /// Notes the outside line an incoming call came in on, for its row.
    pub fn note_outside_line(&self, call_id: &str, line: String) {
        let _ = self.tx.send(Msg::OutsideLine {
            call_id: call_id.to_string(),
            line,
        });
    }

    /// Records into the history at `path` from the next event on (`None`:
    /// records no more), after everything handed in before; calls in
    /// progress are recorded in the new file. On failure the old history
    /// stays in use and the reason is returned.
    pub async fn switch_history(&self, path: Option<PathBuf>) -> Result<(), String> {
        if !self.threaded {
            return Err("the call-history thread is not running".into());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Switch(path, done))
            .map_err(|_| "the call-history thread has stopped".to_string())?;
        wait.await
            .unwrap_or_else(|_| Err("the call-history thread has stopped".into()))
    }

    /// Resolves when everything handed in before is stored and published.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.threaded && self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

fn serve(rx: mpsc::Receiver<Msg>, mut history: Option<History>, events: EventFeed) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Event(event, at) => {
                if let Some(h) = history.as_mut() {
                    record(h, &event, at);
                }
                events.send(event);
            }
            Msg::OutsideLine { call_id, line } => {
                if let Some(h) = history.as_mut() {
                    h.note_outside_line(&call_id, &line);
                }
            }
            Msg::Flush(done) => {
                let _ = done.send(());
            }
            Msg::Switch(path, done) => {
                let outcome = match path {
                    None => {
                        history = None;
                        Ok(())
                    }
                    Some(p) => match History::open(&p) {
                        Ok(mut new) => {
                            if let Some(old) = history.as_mut() {
                                new.take_calls_from(old);
                            }
                            history = Some(new);
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    },
                };
                let _ = done.send(outcome);
            }
        }
    }
}

/// Stores a call's row when `event` ends it; a failure is said, not fatal.
fn record(history: &mut History, event: &Event, at: SystemTime) {
    match history.record(event, at) {
        Ok(Some(row)) => crate::logging::say(format!(
            "history: {} call with {} {} ({} ms), row {}",
            match row.direction {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
            },
            bb_cti::redact::log_safe(if row.number.is_empty() {
                "unknown"
            } else {
                &row.number
            }),
            row.result.as_str(),
            row.duration_ms,
            row.id
        )),
        Ok(None) => {}
        Err(e) => {
            crate::logging::say(format!("{e}; this call is not in the history"));
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_verbs::wire::{EventKind, HangupCause};
    use tokio::sync::broadcast;

    fn ringing(call_id: &str) -> Event {
        Event::new(EventKind::Ringing {
            direction: Direction::Incoming,
            remote_number: Some("0312345678".into()),
        })
        .with_call(call_id.to_string())
    }

    fn hung_up(call_id: &str) -> Event {
        Event::new(EventKind::HungUp {
            cause: HangupCause::Remote,
            duration_ms: 10,
        })
        .with_call(call_id.to_string())
    }

    #[tokio::test]
    async fn a_calls_row_is_stored_before_its_hung_up_is_published_and_order_is_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("h.sqlite3");
        let history = History::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let (events, mut rx) = broadcast::channel(16);
        let publisher = Publisher::start(Some(history), EventFeed::new(events));
        publisher.publish(ringing("c1"));
        publisher.note_outside_line("c1", "0312345678".into());
        publisher.publish(ringing("c2"));
        publisher.publish(hung_up("c1"));
        let mut seen = Vec::new();
        for _ in 0..3 {
            let ev = rx.recv().await.unwrap_or_else(|e| panic!("{e}"));
            if matches!(ev.event, EventKind::HungUp { .. }) {
                // The window re-reads the file now: the row must be there.
                let viewer = History::open_viewer(&path).unwrap_or_else(|e| panic!("{e}"));
                let rows = viewer.recent(10).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(rows.len(), 1, "{rows:?}");
                assert_eq!(rows[0].outside_line.as_deref(), Some("0312345678"));
            }
            seen.push((ev.call_id.clone(), ev.event.clone()));
        }
        let ids: Vec<_> = seen.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(
            ids,
            [Some("c1".into()), Some("c2".into()), Some("c1".into())]
        );
        publisher.flush().await;
    }

    #[tokio::test]
    async fn without_a_history_events_are_still_published_in_order() {
        let (events, mut rx) = broadcast::channel(16);
        let publisher = Publisher::start(None, EventFeed::new(events));
        for id in ["a", "b", "c"] {
            publisher.publish(ringing(id));
        }
        publisher.flush().await;
        for id in ["a", "b", "c"] {
            let ev = rx.recv().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ev.call_id.as_deref(), Some(id));
        }
    }
}
