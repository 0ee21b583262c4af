//! The settings window's state (UI-7, WEB-1…WEB-7, CMD-1…CMD-6): an edited
//! copy of the settings, checked field by field with the same validators the
//! core uses when it loads the file, so a setting the window saves is one the
//! core accepts.
//!
//! [`SettingsForm::from_raw`] copies [`RawSettings`] (and the window's own
//! [`UiPrefs`]) into plain strings; the egui code edits them;
//! [`SettingsForm::validate`] runs on every change and fills the per-field
//! errors and warnings shown beside each field; [`SettingsForm::finish`]
//! runs the full check of `softphone::config` (which also resolves the
//! server's name) and returns the [`RawSettings`] to save. Cancel simply
//! drops the form.
//!
//! The validators are `bb-cti`'s — [`PopupSettings::validate`],
//! [`DetailSettings::validate`] (GET only), [`CommandLine::parse`] — and
//! their messages are shown as they are (English, naming the line and the
//! fix); empty required fields get a message in the UI language.
//!
//! Placeholder buttons insert at the cursor of the text box they belong to
//! ([`SettingsForm::insert_placeholder`]), replacing a selection, as a text
//! editor's paste would.

use std::collections::BTreeMap;
use std::path::Path;

use bb_cti::request::{SettingsError, SettingsWarning};
use bb_cti::template::Placeholder;
use bb_cti::{CommandLine, DetailSettings, HttpMethod, Platform, PopupSettings};

use super::i18n::Tr;
use super::prefs::UiPrefs;
use crate::config::{ConfigError, Detail, Popup, RawSettings, Settings};

/// The four tabs, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tab {
    /// アカウント設定
    Account,
    /// Web連携設定
    Web,
    /// コマンド連携設定
    Command,
    /// その他設定
    Other,
}

impl Tab {
    /// The four, in order.
    pub const ALL: [Tab; 4] = [Tab::Account, Tab::Web, Tab::Command, Tab::Other];

    /// The fluent message ID of the tab's title.
    pub fn message_id(self) -> &'static str {
        match self {
            Tab::Account => "tab-account",
            Tab::Web => "tab-web",
            Tab::Command => "tab-command",
            Tab::Other => "tab-other",
        }
    }
}

/// An editable field, for errors, warnings and cursors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `account.server`
    Server,
    /// `account.user`
    User,
    /// `account.password`
    Password,
    /// `account.transport`
    Transport,
    /// `audio.srtp`
    Srtp,
    /// `operator.login_id`
    OperatorId,
    /// `operator.password`
    OperatorPassword,
    /// `web.popup.url`
    PopupUrl,
    /// `web.popup.params`
    PopupParams,
    /// `web.detail.url`
    DetailUrl,
    /// `web.detail.params`
    DetailParams,
    /// `web.detail.browser`
    DetailBrowser,
    /// `command.on_ring`
    OnRing,
    /// `command.on_answer`
    OnAnswer,
    /// `command.on_hangup`
    OnHangup,
    /// `audio.input_device`
    AudioInput,
    /// `audio.output_device`
    AudioOutput,
    /// `audio.ring_device`
    RingDevice,
    /// `audio.codecs`
    Codecs,
    /// Anything the checks above did not place.
    General,
}

impl Field {
    /// The tab the field is on.
    pub fn tab(self) -> Tab {
        match self {
            Field::Server
            | Field::User
            | Field::Password
            | Field::Transport
            | Field::Srtp
            | Field::OperatorId
            | Field::OperatorPassword
            | Field::General => Tab::Account,
            Field::PopupUrl
            | Field::PopupParams
            | Field::DetailUrl
            | Field::DetailParams
            | Field::DetailBrowser => Tab::Web,
            Field::OnRing | Field::OnAnswer | Field::OnHangup => Tab::Command,
            Field::AudioInput | Field::AudioOutput | Field::RingDevice | Field::Codecs => {
                Tab::Other
            }
        }
    }

    /// The field behind a settings key of `softphone::config`'s errors.
    pub fn from_key(key: &str) -> Field {
        match key {
            "account.server" | "account.outbound_proxy" | "account.local_addr" => Field::Server,
            "account.user" => Field::User,
            "account.transport" => Field::Transport,
            "audio.srtp" => Field::Srtp,
            "web.popup.method" | "web.popup" => Field::PopupUrl,
            "web.detail.method" | "web.detail" => Field::DetailUrl,
            "web.detail.browser" => Field::DetailBrowser,
            "command.on_ring" => Field::OnRing,
            "command.on_answer" => Field::OnAnswer,
            "command.on_hangup" => Field::OnHangup,
            "audio.input_device" | "audio.input_wav" => Field::AudioInput,
            "audio.output_device" | "audio.output_wav" => Field::AudioOutput,
            "audio.ring_device" | "audio.ring_output_wav" | "audio.ringtone" => Field::RingDevice,
            k if k.starts_with("audio.") => Field::Codecs,
            _ => Field::General,
        }
    }
}

/// The SIP transport choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportChoice {
    /// `udp`
    Udp,
    /// `tcp`
    Tcp,
    /// `tls` (a hosted PBX; `[tls]` stays as the file says)
    Tls,
}

/// The edited settings.
#[derive(Clone, Debug)]
pub struct SettingsForm {
    /// The open tab.
    pub tab: Tab,
    /// SIP server, `host:port`.
    pub server: String,
    /// Extension.
    pub user: String,
    /// SIP password.
    pub password: String,
    /// Transport.
    pub transport: TransportChoice,
    /// Call encryption (`audio.srtp`); an unreadable value in the file
    /// shows as off and is kept unless changed here.
    pub srtp: bb_sip::sdes::Policy,
    /// Operator login ID (`%OpId%`).
    pub operator_id: String,
    /// Operator password (`%OpPW%`).
    pub operator_password: String,
    /// Popup method.
    pub popup_method: HttpMethod,
    /// Popup URL; empty with empty parameters turns the popup off.
    pub popup_url: String,
    /// Popup parameter lines.
    pub popup_params: String,
    /// Detail view URL; empty with empty parameters turns it off.
    pub detail_url: String,
    /// Detail view parameter lines.
    pub detail_params: String,
    /// Open the detail view as a call rings (WEB-5).
    pub open_on_ring: bool,
    /// Browser command for the detail view; empty: the OS opener.
    pub browser: String,
    /// Skip web integration for internal calls (WEB-6).
    pub web_skip_internal: bool,
    /// CMD-1
    pub on_ring: String,
    /// CMD-2
    pub on_answer: String,
    /// CMD-3
    pub on_hangup: String,
    /// Skip command integration for internal calls (CMD-5).
    pub cmd_skip_internal: bool,
    /// The command line the Command tab's placeholder buttons insert into.
    pub cmd_target: Field,
    /// Capture device (`audio.input_device`): empty for the system default,
    /// `null` for silence, else a device name.
    pub audio_input: String,
    /// Playback device (`audio.output_device`).
    pub audio_output: String,
    /// Ring out loud (`audio.ring`).
    pub ring: bool,
    /// Ring device (`audio.ring_device`): empty for the output device.
    pub ring_device: String,
    /// Volumes in percent: microphone, speaker, ringtone.
    pub input_volume: u8,
    /// Speaker volume.
    pub output_volume: u8,
    /// Ringtone volume.
    pub ring_volume: u8,
    /// The codecs, preferred first, each with whether it is offered
    /// (`audio.codecs` is the offered ones in this order).
    pub codecs: Vec<(String, bool)>,
    /// The window's own preferences (the Other tab).
    pub prefs: UiPrefs,
    base: RawSettings,
    cursors: BTreeMap<Field, (usize, usize)>,
    errors: BTreeMap<Field, String>,
    warnings: BTreeMap<Field, Vec<String>>,
    required_message: String,
    codec_message: String,
}

impl SettingsForm {
    /// A form holding `raw` and `prefs`; its own messages (an empty
    /// mandatory field, no codec) are in `tr`'s language.
    pub fn from_raw(raw: &RawSettings, prefs: &UiPrefs, tr: &Tr) -> SettingsForm {
        let popup = raw.web.popup.clone();
        let detail = raw.web.detail.clone();
        let mut form = SettingsForm {
            tab: Tab::Account,
            server: raw.account.server.clone(),
            user: raw.account.user.clone(),
            password: raw.account.password.clone(),
            transport: match raw.account.transport.trim().to_ascii_lowercase().as_str() {
                "tcp" => TransportChoice::Tcp,
                "tls" => TransportChoice::Tls,
                _ => TransportChoice::Udp,
            },
            srtp: bb_sip::sdes::Policy::parse(&raw.audio.srtp).unwrap_or_default(),
            operator_id: raw.operator.login_id.clone(),
            operator_password: raw.operator.password.clone(),
            popup_method: match &popup {
                Some(p) if p.method.trim().eq_ignore_ascii_case("post") => HttpMethod::Post,
                _ => HttpMethod::Get,
            },
            popup_url: popup.as_ref().map(|p| p.url.clone()).unwrap_or_default(),
            popup_params: popup.as_ref().map(|p| p.params.clone()).unwrap_or_default(),
            detail_url: detail.as_ref().map(|d| d.url.clone()).unwrap_or_default(),
            detail_params: detail
                .as_ref()
                .map(|d| d.params.clone())
                .unwrap_or_default(),
            open_on_ring: detail.as_ref().is_some_and(|d| d.open_browser_on_ring),
            browser: detail
                .as_ref()
                .map(|d| d.browser.clone())
                .unwrap_or_default(),
            web_skip_internal: raw.web.skip_internal,
            on_ring: raw.command.on_ring.clone(),
            on_answer: raw.command.on_answer.clone(),
            on_hangup: raw.command.on_hangup.clone(),
            cmd_skip_internal: raw.command.skip_internal,
            cmd_target: Field::OnRing,
            audio_input: raw.audio.input_device.clone(),
            audio_output: raw.audio.output_device.clone(),
            ring: raw.audio.ring,
            ring_device: raw.audio.ring_device.clone(),
            input_volume: raw.audio.input_volume.min(100),
            output_volume: raw.audio.output_volume.min(100),
            ring_volume: raw.audio.ring_volume.min(100),
            codecs: codec_rows(&raw.audio.codecs),
            prefs: prefs.clone(),
            base: raw.clone(),
            cursors: BTreeMap::new(),
            errors: BTreeMap::new(),
            warnings: BTreeMap::new(),
            required_message: tr.t("field-required"),
            codec_message: tr.t("field-codec-required"),
        };
        form.validate();
        form
    }

    /// The text of a text field (`None` for non-text fields).
    pub fn text_mut(&mut self, field: Field) -> Option<&mut String> {
        Some(match field {
            Field::Server => &mut self.server,
            Field::User => &mut self.user,
            Field::Password => &mut self.password,
            Field::OperatorId => &mut self.operator_id,
            Field::OperatorPassword => &mut self.operator_password,
            Field::PopupUrl => &mut self.popup_url,
            Field::PopupParams => &mut self.popup_params,
            Field::DetailUrl => &mut self.detail_url,
            Field::DetailParams => &mut self.detail_params,
            Field::DetailBrowser => &mut self.browser,
            Field::OnRing => &mut self.on_ring,
            Field::OnAnswer => &mut self.on_answer,
            Field::OnHangup => &mut self.on_hangup,
            Field::AudioInput => &mut self.audio_input,
            Field::AudioOutput => &mut self.audio_output,
            Field::RingDevice => &mut self.ring_device,
            Field::Transport | Field::Srtp | Field::Codecs | Field::General => return None,
        })
    }

    /// Remembers a text field's cursor (character indices, `start..end`
    /// selected), for the placeholder buttons.
    pub fn note_cursor(&mut self, field: Field, start: usize, end: usize) {
        self.cursors.insert(field, (start.min(end), start.max(end)));
    }

    /// Inserts `p`'s token at `field`'s remembered cursor (at the end when
    /// none), replacing the selection; returns the new cursor (a character
    /// index just after the token), which is also remembered.
    pub fn insert_placeholder(&mut self, field: Field, p: Placeholder) -> usize {
        let (start, end) = self
            .cursors
            .get(&field)
            .copied()
            .unwrap_or((usize::MAX, usize::MAX));
        let Some(text) = self.text_mut(field) else {
            return 0;
        };
        let cursor = insert_at(text, start, end, p.token());
        self.cursors.insert(field, (cursor, cursor));
        if matches!(field, Field::OnRing | Field::OnAnswer | Field::OnHangup) {
            self.cmd_target = field;
        }
        self.validate();
        cursor
    }

    /// The error shown beside `field`.
    pub fn error(&self, field: Field) -> Option<&str> {
        self.errors.get(&field).map(String::as_str)
    }

    /// The warnings shown beside `field`.
    pub fn warnings(&self, field: Field) -> &[String] {
        self.warnings.get(&field).map_or(&[], Vec::as_slice)
    }

    /// All errors, by field.
    pub fn errors(&self) -> &BTreeMap<Field, String> {
        &self.errors
    }

    /// The tabs with an error, for marking them.
    pub fn tab_has_error(&self, tab: Tab) -> bool {
        self.errors.keys().any(|f| f.tab() == tab)
    }

    /// The settings as edited (not checked).
    pub fn to_raw(&self) -> RawSettings {
        let mut raw = self.base.clone();
        raw.account.server = self.server.trim().to_owned();
        raw.account.user = self.user.trim().to_owned();
        raw.account.password = self.password.clone();
        raw.account.transport = match self.transport {
            TransportChoice::Udp => "udp",
            TransportChoice::Tcp => "tcp",
            TransportChoice::Tls => "tls",
        }
        .to_owned();
        // What the window showed for the file's value: written only when
        // changed, so text the window cannot show is kept.
        if bb_sip::sdes::Policy::parse(&raw.audio.srtp).unwrap_or_default() != self.srtp {
            raw.audio.srtp = self.srtp.as_str().to_owned();
        }
        raw.operator.login_id = self.operator_id.trim().to_owned();
        raw.operator.password = self.operator_password.clone();
        raw.web.skip_internal = self.web_skip_internal;
        raw.web.popup = if self.popup_off() {
            None
        } else {
            Some(Popup {
                method: match self.popup_method {
                    HttpMethod::Get => "GET",
                    HttpMethod::Post => "POST",
                }
                .to_owned(),
                url: self.popup_url.trim().to_owned(),
                params: self.popup_params.clone(),
            })
        };
        raw.web.detail = if self.detail_off() {
            None
        } else {
            Some(Detail {
                method: "GET".to_owned(),
                url: self.detail_url.trim().to_owned(),
                params: self.detail_params.clone(),
                open_browser_on_ring: self.open_on_ring,
                browser: self.browser.trim().to_owned(),
            })
        };
        raw.command.on_ring = self.on_ring.trim().to_owned();
        raw.command.on_answer = self.on_answer.trim().to_owned();
        raw.command.on_hangup = self.on_hangup.trim().to_owned();
        raw.command.skip_internal = self.cmd_skip_internal;
        raw.audio.input_device = self.audio_input.trim().to_owned();
        raw.audio.output_device = self.audio_output.trim().to_owned();
        raw.audio.ring = self.ring;
        raw.audio.ring_device = self.ring_device.trim().to_owned();
        raw.audio.input_volume = self.input_volume;
        raw.audio.output_volume = self.output_volume;
        raw.audio.ring_volume = self.ring_volume;
        let offered: Vec<String> = self
            .codecs
            .iter()
            .filter(|(_, on)| *on)
            .map(|(c, _)| c.clone())
            .collect();
        // Keep the file as written when the operator changed nothing here.
        if !same_codecs(&offered, &self.base.audio.codecs) {
            raw.audio.codecs = offered;
        }
        raw
    }

    fn popup_off(&self) -> bool {
        self.popup_url.trim().is_empty() && self.popup_params.trim().is_empty()
    }

    fn detail_off(&self) -> bool {
        self.detail_url.trim().is_empty()
            && self.detail_params.trim().is_empty()
            && self.browser.trim().is_empty()
            && !self.open_on_ring
    }

    /// Checks every field without touching the network; true when there is
    /// no error.
    pub fn validate(&mut self) -> bool {
        self.errors.clear();
        self.warnings.clear();
        let required = self.required_message.clone();
        if self.server.trim().is_empty() {
            self.errors.insert(Field::Server, required.clone());
        } else if self.server.trim().contains(char::is_whitespace) {
            self.errors.insert(
                Field::Server,
                format!(
                    "'{}' has a space (write host:port, e.g. pbx.example.jp:5060)",
                    self.server.trim().escape_debug()
                ),
            );
        }
        if self.user.trim().is_empty() {
            self.errors.insert(Field::User, required);
        }
        if !self.operator_id.trim().is_empty()
            && let Err(e) = bb_verbs::LoginId::parse(&self.operator_id)
        {
            self.errors.insert(Field::OperatorId, e.to_string());
        }
        if !self.popup_off() {
            match PopupSettings::validate(self.popup_method, &self.popup_url, &self.popup_params) {
                Ok(p) => {
                    for w in p.warnings() {
                        self.warn(warning_field(w, Field::PopupUrl, Field::PopupParams), w);
                    }
                }
                Err(e) => self.settings_error(e, Field::PopupUrl, Field::PopupParams),
            }
        }
        if !self.detail_off() {
            match DetailSettings::validate(
                HttpMethod::Get,
                &self.detail_url,
                &self.detail_params,
                self.open_on_ring,
            ) {
                Ok(d) => {
                    for w in d.warnings() {
                        self.warn(warning_field(w, Field::DetailUrl, Field::DetailParams), w);
                    }
                }
                Err(e) => self.settings_error(e, Field::DetailUrl, Field::DetailParams),
            }
            if !self.browser.trim().is_empty()
                && let Err(e) = bb_cti::split_posix(&self.browser)
            {
                self.errors.insert(Field::DetailBrowser, e.to_string());
            }
        }
        if !self.codecs.iter().any(|(_, on)| *on) {
            self.errors
                .insert(Field::Codecs, self.codec_message.clone());
        }
        for (field, line) in [
            (Field::OnRing, self.on_ring.clone()),
            (Field::OnAnswer, self.on_answer.clone()),
            (Field::OnHangup, self.on_hangup.clone()),
        ] {
            if line.trim().is_empty() {
                continue;
            }
            match CommandLine::parse(&line, Platform::current()) {
                Ok(c) => {
                    for w in c.warnings() {
                        self.warn(field, w);
                    }
                }
                Err(e) => {
                    self.errors.insert(field, e.to_string());
                }
            }
        }
        self.errors.is_empty()
    }

    fn warn(&mut self, field: Field, w: &dyn std::fmt::Display) {
        self.warnings.entry(field).or_default().push(w.to_string());
    }

    fn settings_error(&mut self, e: SettingsError, url: Field, params: Field) {
        let field = match e {
            SettingsError::Params(_) => params,
            _ => url,
        };
        self.errors.insert(field, e.to_string());
    }

    /// The full check before saving: the field checks, then the core's own
    /// load-time validation of the whole file (which resolves the server).
    /// On success, the validated settings (their `raw` is what to save,
    /// the whole is what the running core takes); otherwise the errors are
    /// in place and the tab switches to the first one with an error.
    pub fn finish(&mut self, path: &Path) -> Option<Settings> {
        if !self.validate() {
            self.show_first_error();
            return None;
        }
        let raw = self.to_raw();
        match Settings::validate(raw, path) {
            Ok(settings) => Some(settings),
            Err(e) => {
                let (field, message) = match &e {
                    ConfigError::Invalid { key, message, .. } => {
                        (Field::from_key(key), format!("{key}: {message}"))
                    }
                    other => (Field::General, other.to_string()),
                };
                self.errors.insert(field, message);
                self.show_first_error();
                None
            }
        }
    }

    fn show_first_error(&mut self) {
        if let Some(f) = self.errors.keys().next() {
            self.tab = f.tab();
        }
    }
}

fn warning_field(w: &SettingsWarning, url: Field, params: Field) -> Field {
    match w {
        SettingsWarning::PasswordOverHttp { .. } | SettingsWarning::PlaceholderInUrl { .. } => url,
        _ => params,
    }
}

/// The codecs the softphone knows, in its default order.
pub const CODECS: [&str; 3] = ["opus", "PCMU", "PCMA"];

/// The codec rows for a configured list: the configured codecs first, in
/// their order and offered, then the other known ones, not offered.
/// Names are matched without regard to case; unknown names are dropped (the
/// core would refuse them).
pub fn codec_rows(configured: &[String]) -> Vec<(String, bool)> {
    let mut rows: Vec<(String, bool)> = Vec::new();
    for c in configured {
        if let Some(known) = CODECS.iter().find(|k| k.eq_ignore_ascii_case(c.trim()))
            && !rows.iter().any(|(r, _)| r == known)
        {
            rows.push(((*known).to_owned(), true));
        }
    }
    for k in CODECS {
        if !rows.iter().any(|(r, _)| r == k) {
            rows.push((k.to_owned(), false));
        }
    }
    rows
}

fn same_codecs(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.eq_ignore_ascii_case(y.trim()))
}

/// Moves row `i` one place up (towards preferred); false at the top.
pub fn move_codec_up(rows: &mut [(String, bool)], i: usize) -> bool {
    if i == 0 || i >= rows.len() {
        return false;
    }
    rows.swap(i - 1, i);
    true
}

/// Replaces the characters `start..end` of `text` (clamped to its length)
/// with `token`; returns the character index just after it.
pub fn insert_at(text: &mut String, start: usize, end: usize, token: &str) -> usize {
    let len = text.chars().count();
    let start = start.min(len);
    let end = end.clamp(start, len);
    let byte = |i: usize| text.char_indices().nth(i).map_or(text.len(), |(b, _)| b);
    let (bs, be) = (byte(start), byte(end));
    text.replace_range(bs..be, token);
    start + token.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Account;
    use crate::ui::i18n::Lang;

    fn raw() -> RawSettings {
        RawSettings {
            account: Account {
                server: "127.0.0.1:5060".into(),
                user: "1910".into(),
                password: "pw".into(),
                local_addr: None,
                expires: 300,
                transport: "udp".into(),
                outbound_proxy: None,
            },
            ..RawSettings::default()
        }
    }

    fn form() -> SettingsForm {
        SettingsForm::from_raw(&raw(), &UiPrefs::default(), &Tr::new(Lang::En))
    }

    #[test]
    fn round_trip_without_edits_is_identity() {
        assert_eq!(form().to_raw(), raw());
        assert!(form().errors().is_empty());
    }

    #[test]
    fn a_tls_account_stays_tls_through_the_window() {
        // A hosted PBX's settings: Save must not turn TLS into UDP.
        let mut r = raw();
        r.account.transport = "tls".into();
        let f = SettingsForm::from_raw(&r, &UiPrefs::default(), &Tr::new(Lang::En));
        assert_eq!(f.transport, TransportChoice::Tls);
        assert_eq!(f.to_raw(), r);
    }

    #[test]
    fn srtp_is_chosen_in_the_window_and_an_odd_value_survives_a_save() {
        let mut f = form();
        assert_eq!(f.srtp, bb_sip::sdes::Policy::Off);
        f.srtp = bb_sip::sdes::Policy::Required;
        assert_eq!(f.to_raw().audio.srtp, "required");
        let mut r = raw();
        r.audio.srtp = " Optional ".into();
        let f = SettingsForm::from_raw(&r, &UiPrefs::default(), &Tr::new(Lang::En));
        assert_eq!(f.srtp, bb_sip::sdes::Policy::Optional);
        assert_eq!(f.to_raw(), r, "written back as it was");
        r.audio.srtp = "maybe".into();
        let f = SettingsForm::from_raw(&r, &UiPrefs::default(), &Tr::new(Lang::En));
        assert_eq!(f.to_raw(), r, "not turned into off");
    }

    #[test]
    fn insert_at_cursor_and_over_selection() {
        let mut s = String::from("number=\noutline=");
        assert_eq!(insert_at(&mut s, 7, 7, "%CallerNumber%"), 21);
        assert_eq!(s, "number=%CallerNumber%\noutline=");
        let mut s = String::from("a=XYZ");
        assert_eq!(insert_at(&mut s, 2, 5, "%Exten%"), 9);
        assert_eq!(s, "a=%Exten%");
        let mut s = String::from("相手=");
        assert_eq!(insert_at(&mut s, usize::MAX, usize::MAX, "%CallId%"), 11);
        assert_eq!(s, "相手=%CallId%");
    }

    #[test]
    fn placeholder_buttons_insert_at_the_remembered_cursor() {
        let mut f = form();
        f.popup_url = "https://crm.test.com/softphone/popup/in?".into();
        f.popup_params = "number=\noutline=".into();
        f.note_cursor(Field::PopupParams, 7, 7);
        f.insert_placeholder(Field::PopupParams, Placeholder::CallerNumber);
        f.insert_placeholder(Field::PopupParams, Placeholder::Exten);
        assert_eq!(f.popup_params, "number=%CallerNumber%%Exten%\noutline=");
        f.insert_placeholder(Field::OnAnswer, Placeholder::CallId);
        assert_eq!(f.on_answer, "%CallId%");
        assert_eq!(f.cmd_target, Field::OnAnswer);
    }

    #[test]
    fn errors_land_beside_their_fields() {
        let mut f = form();
        f.server.clear();
        f.user = " ".into();
        f.popup_url = "https://crm.test.com/in".into();
        f.popup_params = "campaignid 1234".into();
        f.detail_url = "ftp://x".into();
        f.on_ring = "\"unterminated".into();
        assert!(!f.validate());
        assert_eq!(f.error(Field::Server), Some("Required"));
        assert_eq!(f.error(Field::User), Some("Required"));
        let p = f.error(Field::PopupParams).expect("params error");
        assert!(p.contains("line 1: 'campaignid 1234' has no '='"), "{p}");
        assert!(f.error(Field::DetailUrl).is_some());
        assert!(f.error(Field::OnRing).is_some());
        assert!(f.tab_has_error(Tab::Command));
        assert!(!f.tab_has_error(Tab::Other));
        assert!(f.finish(Path::new("/tmp/x.toml")).is_none());
        assert_eq!(f.tab, Tab::Account);
    }

    #[test]
    fn warnings_do_not_block() {
        let mut f = form();
        f.popup_url = "http://crm.test.com/in".into();
        f.popup_params = "pw=%OpPW%".into();
        assert!(f.validate());
        assert!(!f.warnings(Field::PopupUrl).is_empty());
        let raw = f.finish(Path::new("/tmp/x.toml")).expect("valid").raw;
        assert_eq!(raw.web.popup.expect("popup").params, "pw=%OpPW%");
    }

    #[test]
    fn empty_popup_and_detail_turn_them_off() {
        let mut f = form();
        f.popup_url = "https://crm/in".into();
        f.detail_url = "https://crm/detail".into();
        f.open_on_ring = true;
        let raw = f.to_raw();
        assert_eq!(
            raw.web.popup.as_ref().map(|p| p.method.as_str()),
            Some("GET")
        );
        assert!(
            raw.web
                .detail
                .as_ref()
                .is_some_and(|d| d.open_browser_on_ring)
        );
        f.popup_url.clear();
        f.detail_url.clear();
        f.open_on_ring = false;
        let raw = f.to_raw();
        assert!(raw.web.popup.is_none() && raw.web.detail.is_none());
    }

    #[test]
    fn codec_order_and_choice() {
        let v = |s: &[&str]| s.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            codec_rows(&v(&["pcma", "G729", "PCMA"])),
            vec![
                ("PCMA".to_string(), true),
                ("opus".to_string(), false),
                ("PCMU".to_string(), false)
            ]
        );
        let mut f = form();
        assert_eq!(f.to_raw().audio.codecs, raw().audio.codecs, "untouched");
        assert!(move_codec_up(&mut f.codecs, 2));
        assert!(!move_codec_up(&mut f.codecs, 0));
        assert_eq!(f.to_raw().audio.codecs, v(&["opus", "PCMA", "PCMU"]));
        f.codecs[0].1 = false;
        assert_eq!(f.to_raw().audio.codecs, v(&["PCMA", "PCMU"]));
        for row in f.codecs.iter_mut() {
            row.1 = false;
        }
        assert!(!f.validate());
        assert_eq!(f.error(Field::Codecs), Some("Choose at least one codec"));
        f.codecs[2].1 = true;
        f.audio_input = " USB Headset ".into();
        f.ring_device = " Speakers ".into();
        f.ring = false;
        f.ring_volume = 30;
        f.output_volume = 70;
        assert!(f.validate());
        let r = f.to_raw();
        assert_eq!(r.audio.codecs, v(&["PCMU"]));
        assert_eq!(r.audio.input_device, "USB Headset");
        assert_eq!(r.audio.ring_device, "Speakers");
        assert!(!r.audio.ring);
        assert_eq!(
            (
                r.audio.ring_volume,
                r.audio.output_volume,
                r.audio.input_volume
            ),
            (30, 70, 100)
        );
        assert_eq!(Field::from_key("audio.ring_device"), Field::RingDevice);
        assert_eq!(Field::RingDevice.tab(), Tab::Other);
    }

    #[test]
    fn core_validation_errors_are_mapped_to_fields() {
        let mut f = form();
        f.server = "no-such-host.invalid".into();
        assert!(f.validate());
        assert!(f.finish(Path::new("/tmp/x.toml")).is_none());
        let e = f.error(Field::Server).expect("server error");
        assert!(e.starts_with("account.server: cannot resolve"), "{e}");
    }
}
