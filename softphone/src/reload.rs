//! Saved settings into a running core (WEB-7), decided as a pure function.
//!
//! The window's Save validates the settings (the same
//! [`Settings::validate`] the core runs at start), writes the file, and
//! hands the validated [`Settings`] to the app loop
//! ([`crate::app::Core::settings`]). The app loop asks [`plan`] what to do:
//! which settings it can put in force now (for the next call) and which
//! need something a running core cannot change. It then swaps what it may
//! and publishes the [`Report`] as a `settings` event.
//!
//! # What is in force from the next call
//!
//! * `web` and `command` — the hook engine's configuration is replaced
//!   (`%Exten%` follows `account.user`). A hook already running keeps its
//!   time limit; later phases of a call in progress (its answer or hang-up
//!   hooks) use the new settings, with the internal-call decision made at
//!   its ring.
//! * `operator` — the configured login (`%OpId%`/`%OpPW%` while nobody is
//!   logged in, the defaults for `login`), the API address and its time
//!   limit. A logged-in operator stays logged in.
//! * `history` — the core records into the new file (or stops recording);
//!   calls in progress are recorded where they end.
//! * `sip.second_call` — ring or busy for the next second call.
//! * `account` (server, user, password, expiry, outbound proxy) — the core
//!   unregisters the old binding and registers the new account; calls in
//!   progress keep their dialogs.
//!
//! # What waits for a restart
//!
//! The running core says so (the event's `after_restart`) and keeps the
//! old value in force:
//!
//! * `account.transport` and `account.local_addr` — the SIP sockets are
//!   bound at start;
//! * `account.server` / `account.outbound_proxy` when the new address is
//!   not reached from the address the SIP socket is bound to;
//! * `sip.t1_ms` — the SIP stack's timers are set at start;
//! * `sip.keepalive_s`, `sip.stun_server` and `[tls]` — the keep-alive
//!   task, the STUN server and the TLS client start with the SIP stack;
//! * `audio` — devices are opened and checked at start.

use std::net::SocketAddr;

use crate::config::Settings;

/// What a save changed in a running core.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The changed parts now in force (in the order of the settings file).
    pub applied: Vec<String>,
    /// The changed settings that need a restart; the old values stay in
    /// force until then.
    pub after_restart: Vec<String>,
    /// Changes that could not be put in force (`key: why`); the old
    /// values stay.
    pub failed: Vec<String>,
}

impl Report {
    /// One line for the terminal.
    pub fn line(&self) -> String {
        let mut line = self.in_force();
        for f in &self.failed {
            line.push_str("; not in force: ");
            line.push_str(f);
        }
        line
    }

    fn in_force(&self) -> String {
        match (self.applied.is_empty(), self.after_restart.is_empty()) {
            (true, true) => "settings saved; nothing changed".to_string(),
            (false, true) => format!(
                "settings saved; in force for the next call: {}",
                self.applied.join(", ")
            ),
            (true, false) => format!(
                "settings saved; in force after a restart: {}",
                self.after_restart.join(", ")
            ),
            (false, false) => format!(
                "settings saved; in force for the next call: {}; after a restart: {}",
                self.applied.join(", "),
                self.after_restart.join(", ")
            ),
        }
    }
}

/// What the app loop does with a save.
#[derive(Debug)]
pub struct Plan {
    /// The settings in force from now on: the new ones, with the old values
    /// kept where a restart is needed.
    pub settings: Settings,
    /// Re-register with `settings`' account (unregistering the old one).
    pub reregister: bool,
    /// Record into `settings`' history file from now on. (The hooks, the
    /// operator session and the call model take `settings` on every save:
    /// that is cheap.)
    pub history: bool,
    /// What to tell.
    pub report: Report,
}

/// Decides what a running core with `old` in force does with `new`.
/// `reachable(server)` says whether the bound SIP socket reaches `server`
/// (see [`crate::sip_ua::SipUa::reaches`]).
pub fn plan(old: &Settings, new: Settings, reachable: &dyn Fn(SocketAddr) -> bool) -> Plan {
    let mut s = new;
    let mut after_restart = Vec::new();
    let keep = |after_restart: &mut Vec<String>, changed: bool, key: &str| {
        if changed {
            after_restart.push(key.to_string());
        }
        changed
    };
    // Spelled differently is not changed ("UDP" is "udp").
    keep(
        &mut after_restart,
        s.transport != old.transport,
        "account.transport",
    );
    s.raw.account.transport = old.raw.account.transport.clone();
    s.transport = old.transport;
    if keep(
        &mut after_restart,
        old.raw.account.local_addr != s.raw.account.local_addr,
        "account.local_addr",
    ) {
        s.raw.account.local_addr = old.raw.account.local_addr.clone();
        s.local_addr = old.local_addr;
    }
    let next_hop = s.outbound_proxy.unwrap_or(s.server);
    let moved = old.raw.account.server != s.raw.account.server
        || old.raw.account.outbound_proxy != s.raw.account.outbound_proxy;
    if moved && !reachable(next_hop) {
        if old.raw.account.server != s.raw.account.server {
            after_restart.push("account.server".to_string());
        }
        if old.raw.account.outbound_proxy != s.raw.account.outbound_proxy {
            after_restart.push("account.outbound_proxy".to_string());
        }
        s.raw.account.server = old.raw.account.server.clone();
        s.raw.account.outbound_proxy = old.raw.account.outbound_proxy.clone();
        s.server = old.server;
        s.outbound_proxy = old.outbound_proxy;
    }
    if keep(
        &mut after_restart,
        old.raw.sip.t1_ms != s.raw.sip.t1_ms,
        "sip.t1_ms",
    ) {
        s.raw.sip.t1_ms = old.raw.sip.t1_ms;
    }
    if keep(
        &mut after_restart,
        old.raw.sip.keepalive_s != s.raw.sip.keepalive_s,
        "sip.keepalive_s",
    ) {
        s.raw.sip.keepalive_s = old.raw.sip.keepalive_s;
    }
    // The TLS client (trust, pin, name) and the STUN server are set up
    // with the SIP stack.
    if keep(&mut after_restart, old.raw.tls != s.raw.tls, "tls") {
        s.raw.tls = old.raw.tls.clone();
        s.tls = old.tls.clone();
    }
    if keep(
        &mut after_restart,
        old.raw.sip.stun_server != s.raw.sip.stun_server,
        "sip.stun_server",
    ) {
        s.raw.sip.stun_server = old.raw.sip.stun_server.clone();
        s.stun_server = old.stun_server;
    }
    if keep(&mut after_restart, old.raw.audio != s.raw.audio, "audio") {
        s.raw.audio = old.raw.audio.clone();
    }
    // The opened devices, and whether this core runs without a window,
    // are the running core's own.
    s.audio = old.audio.clone();

    let (a, b) = (&old.raw, &s.raw);
    let reregister = a.account != b.account;
    let history = a.history != b.history || old.history_path != s.history_path;
    let mut applied = Vec::new();
    for (changed, key) in [
        (reregister, "account"),
        (a.operator != b.operator, "operator"),
        (a.web != b.web, "web"),
        (a.command != b.command, "command"),
        (a.sip.second_call != b.sip.second_call, "sip.second_call"),
        (history, "history"),
    ] {
        if changed {
            applied.push(key.to_string());
        }
    }
    Plan {
        settings: s,
        reregister,
        history,
        report: Report {
            applied,
            after_restart,
            failed: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str =
        "[account]\nserver = \"127.0.0.1:5060\"\nuser = \"1910\"\npassword = \"pw\"\n";

    fn settings(extra: &str) -> Settings {
        Settings::from_toml(&format!("{BASE}{extra}"), Path::new("/x/s.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn everywhere(_: SocketAddr) -> bool {
        true
    }

    #[test]
    fn web_command_operator_history_and_second_call_are_in_force_at_once() {
        let old = settings("");
        let new = settings(
            "[web.popup]\nurl = \"http://127.0.0.1:1/p\"\nparams = \"n=%CallerNumber%\"\n\
             [command]\non_ring = \"/bin/true\"\nskip_internal = false\n\
             [operator]\nlogin_id = \"op1\"\n[sip]\nsecond_call = \"busy\"\n\
             [history]\npath = \"h.sqlite3\"\n",
        );
        let p = plan(&old, new, &everywhere);
        assert_eq!(
            p.report.applied,
            ["operator", "web", "command", "sip.second_call", "history"]
        );
        assert!(p.report.after_restart.is_empty());
        assert!(!p.reregister);
        assert!(p.history);
        assert!(p.settings.hooks.engine.popup.is_some());
        assert!(!p.settings.hooks.engine.skip_internal_command);
        assert_eq!(
            p.settings.raw.sip.second_call,
            crate::config::SecondCall::Busy
        );
    }

    #[test]
    fn an_account_change_re_registers() {
        let old = settings("");
        let new = Settings::from_toml(
            "[account]\nserver = \"127.0.0.1:5070\"\nuser = \"1911\"\npassword = \"pw2\"\n",
            Path::new("/x/s.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = plan(&old, new, &everywhere);
        assert!(p.reregister);
        assert_eq!(p.report.applied, ["account"]);
        assert_eq!(p.settings.server.port(), 5070);
        assert_eq!(p.settings.hooks.own_extension, "1911");
    }

    #[test]
    fn what_a_running_core_cannot_change_is_named_and_kept() {
        let mut old = settings("");
        old.audio.headless = true;
        let new = settings(
            "transport = \"tcp\"\nlocal_addr = \"127.0.0.1:0\"\n[sip]\nt1_ms = 20\n\
             [audio]\ncodecs = [\"PCMU\"]\n",
        );
        let p = plan(&old, new, &everywhere);
        assert_eq!(
            p.report.after_restart,
            [
                "account.transport",
                "account.local_addr",
                "sip.t1_ms",
                "audio"
            ]
        );
        assert!(p.report.applied.is_empty(), "{:?}", p.report);
        assert!(!p.reregister);
        assert_eq!(p.settings.transport, crate::config::Transport::Udp);
        assert_eq!(p.settings.raw.account, old.raw.account);
        assert_eq!(p.settings.raw.sip.t1_ms, 500);
        assert_eq!(p.settings.raw.audio, old.raw.audio);
        assert!(p.settings.audio.headless, "the running core's audio stays");
    }

    #[test]
    fn nat_and_tls_settings_wait_for_a_restart() {
        let old = settings("");
        let new = settings(
            "[sip]\nkeepalive_s = 5\nstun_server = \"127.0.0.1\"\n\
             [tls]\nserver_name = \"pbx.example.jp\"\n",
        );
        let p = plan(&old, new, &everywhere);
        assert_eq!(
            p.report.after_restart,
            ["sip.keepalive_s", "tls", "sip.stun_server"]
        );
        assert_eq!(p.settings.raw.sip.keepalive_s, 25);
        assert_eq!(p.settings.stun_server, None);
        assert_eq!(p.settings.raw.tls, old.raw.tls);
    }

    #[test]
    fn a_server_the_socket_cannot_reach_waits_but_the_user_changes_now() {
        let old = settings("");
        let new = Settings::from_toml(
            "[account]\nserver = \"127.0.0.2:5060\"\nuser = \"1911\"\npassword = \"pw\"\n",
            Path::new("/x/s.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = plan(&old, new, &|a| a.ip() == old.server.ip());
        assert_eq!(p.report.after_restart, ["account.server"]);
        assert_eq!(p.report.applied, ["account"]);
        assert!(p.reregister);
        assert_eq!(p.settings.server, old.server);
        assert_eq!(p.settings.raw.account.user, "1911");
    }

    #[test]
    fn saving_the_same_settings_changes_nothing() {
        let p = plan(&settings(""), settings(""), &everywhere);
        assert_eq!(p.report, Report::default());
        assert_eq!(p.report.line(), "settings saved; nothing changed");
        assert!(!p.reregister && !p.history);
    }
}
