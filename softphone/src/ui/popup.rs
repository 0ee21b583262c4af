//! The popup window's state (WEB-1, WEB-4): what the CRM answered for each
//! incoming call, from `popup` events.
//!
//! Key decision: **one** popup window with one tab per call, newest
//! selected, at most [`MAX_POPUPS`] tabs. When a further answer arrives,
//! the oldest tab of a call that has ended goes first, else the oldest tab.
//! So a burst of ringing calls never piles up windows over the operator's
//! work, and the call that rings now is the one in front.
//!
//! A tab opens when the CRM's answer (or the popup hook's failure) arrives,
//! not on the ring itself: the main window already shows the ring, and a
//! softphone without web integration never shows an empty popup.
//!
//! The Details button (詳細情報) sends the `details` verb, which the core
//! applies to the most recent incoming call; so it is enabled on that
//! call's tab only, while the call lasts.

use bb_verbs::wire::{Direction, Event, EventKind, HookKind, HookOutcome};

/// The most tabs the popup window keeps.
pub const MAX_POPUPS: usize = 5;

/// How many ringing numbers are remembered for titles.
const MAX_NUMBERS: usize = 32;

/// One call's tab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopupEntry {
    /// SIP Call-ID.
    pub call_id: String,
    /// The caller's number, when the ring was seen.
    pub number: String,
    /// What the CRM returned.
    pub text: Option<String>,
    /// Why the popup request failed, when it did.
    pub failure: Option<String>,
    /// The call has ended.
    pub ended: bool,
}

/// The tabs of the popup window.
#[derive(Clone, Debug, Default)]
pub struct PopupBoard {
    entries: Vec<PopupEntry>,
    selected: Option<String>,
    latest_incoming: Option<String>,
    numbers: Vec<(String, String)>,
}

impl PopupBoard {
    /// No tabs.
    pub fn new() -> PopupBoard {
        PopupBoard::default()
    }

    /// Takes one event.
    pub fn apply(&mut self, ev: &Event) {
        let Some(id) = ev.call_id.as_deref().filter(|s| !s.is_empty()) else {
            return;
        };
        match &ev.event {
            EventKind::Ringing {
                direction: Direction::Incoming,
                remote_number,
            } => {
                self.latest_incoming = Some(id.to_owned());
                self.numbers.retain(|(c, _)| c != id);
                self.numbers
                    .push((id.to_owned(), remote_number.clone().unwrap_or_default()));
                if self.numbers.len() > MAX_NUMBERS {
                    self.numbers.remove(0);
                }
            }
            EventKind::Popup { text } => {
                let e = self.upsert(id);
                e.text = Some(text.clone());
                e.failure = None;
            }
            EventKind::Hook {
                kind: HookKind::Popup,
                outcome: HookOutcome::Failed | HookOutcome::TimedOut,
                detail,
            } => {
                let e = self.upsert(id);
                e.failure = Some(detail.clone().unwrap_or_default());
            }
            EventKind::HungUp { .. } => {
                if let Some(e) = self.entries.iter_mut().find(|e| e.call_id == id) {
                    e.ended = true;
                }
            }
            _ => {}
        }
    }

    fn upsert(&mut self, id: &str) -> &mut PopupEntry {
        self.selected = Some(id.to_owned());
        if let Some(i) = self.entries.iter().position(|e| e.call_id == id) {
            return &mut self.entries[i];
        }
        if self.entries.len() >= MAX_POPUPS {
            let drop = self.entries.iter().position(|e| e.ended).unwrap_or(0);
            self.entries.remove(drop);
        }
        let number = self
            .numbers
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        self.entries.push(PopupEntry {
            call_id: id.to_owned(),
            number,
            text: None,
            failure: None,
            ended: false,
        });
        let last = self.entries.len() - 1;
        &mut self.entries[last]
    }

    /// The tabs, oldest first.
    pub fn entries(&self) -> &[PopupEntry] {
        &self.entries
    }

    /// True while there is a tab to show.
    pub fn is_open(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The tab in front.
    pub fn selected(&self) -> Option<&PopupEntry> {
        let id = self.selected.as_deref()?;
        self.entries.iter().find(|e| e.call_id == id)
    }

    /// Brings a tab to the front.
    pub fn select(&mut self, call_id: &str) {
        if self.entries.iter().any(|e| e.call_id == call_id) {
            self.selected = Some(call_id.to_owned());
        }
    }

    /// Closes a tab; the newest remaining one comes to the front.
    pub fn dismiss(&mut self, call_id: &str) {
        self.entries.retain(|e| e.call_id != call_id);
        if self.selected.as_deref() == Some(call_id) || self.selected().is_none() {
            self.selected = self.entries.last().map(|e| e.call_id.clone());
        }
    }

    /// Whether Details may be pressed on this tab: the core opens the
    /// detail view of the latest incoming call only.
    pub fn details_enabled(&self, call_id: &str) -> bool {
        self.latest_incoming.as_deref() == Some(call_id)
            && self
                .entries
                .iter()
                .any(|e| e.call_id == call_id && !e.ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_verbs::wire::HangupCause;

    fn ring(id: &str, n: &str) -> Event {
        Event::new(EventKind::Ringing {
            direction: Direction::Incoming,
            remote_number: Some(n.into()),
        })
        .with_call(id)
    }

    fn popup(id: &str, text: &str) -> Event {
        Event::new(EventKind::Popup { text: text.into() }).with_call(id)
    }

    #[test]
    fn answer_opens_a_tab_with_the_number() {
        let mut b = PopupBoard::new();
        b.apply(&ring("c1", "0312345678"));
        assert!(!b.is_open());
        b.apply(&popup("c1", "山田様 (顧客ID 42)"));
        let e = b.selected().expect("a tab");
        assert_eq!(e.number, "0312345678");
        assert_eq!(e.text.as_deref(), Some("山田様 (顧客ID 42)"));
        assert!(b.details_enabled("c1"));
        b.apply(
            &Event::new(EventKind::HungUp {
                cause: HangupCause::Remote,
                duration_ms: 0,
            })
            .with_call("c1"),
        );
        assert!(!b.details_enabled("c1"));
        b.dismiss("c1");
        assert!(!b.is_open());
    }

    #[test]
    fn many_calls_are_capped_and_ended_ones_go_first() {
        let mut b = PopupBoard::new();
        for i in 0..MAX_POPUPS {
            let id = format!("c{i}");
            b.apply(&ring(&id, "1"));
            b.apply(&popup(&id, "x"));
        }
        b.apply(
            &Event::new(EventKind::HungUp {
                cause: HangupCause::Remote,
                duration_ms: 0,
            })
            .with_call("c2"),
        );
        b.apply(&ring("new", "2"));
        b.apply(&popup("new", "y"));
        assert_eq!(b.entries().len(), MAX_POPUPS);
        assert!(b.entries().iter().all(|e| e.call_id != "c2"));
        assert_eq!(b.selected().map(|e| e.call_id.as_str()), Some("new"));
        assert!(b.details_enabled("new"));
        assert!(!b.details_enabled("c0"));
        b.apply(&ring("newer", "3"));
        b.apply(&popup("newer", "z"));
        assert!(b.entries().iter().all(|e| e.call_id != "c0"));
    }

    #[test]
    fn failure_shows_in_the_tab() {
        let mut b = PopupBoard::new();
        b.apply(
            &Event::new(EventKind::Hook {
                kind: HookKind::Popup,
                outcome: HookOutcome::TimedOut,
                detail: Some("no answer in 5 s".into()),
            })
            .with_call("c9"),
        );
        assert_eq!(
            b.selected().and_then(|e| e.failure.as_deref()),
            Some("no answer in 5 s")
        );
    }
}
