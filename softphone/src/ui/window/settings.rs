//! The settings window (UI-7) and Save (WEB-7, Q-4): the four tabs drawn
//! over [`SettingsForm`], Save (check, write atomically, hand the settings
//! to the running core) and the status line the core's answer becomes.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText, ViewportBuilder, ViewportClass, ViewportId};
use tokio::sync::oneshot;

use bb_cti::template::Placeholder;

use super::super::i18n::{Lang, Tr};
use super::super::prefs;
use super::super::settings_form::{self, Field, SettingsForm, Tab, TransportChoice};
use super::{OperatorWindow, beside_main};
use crate::app::SettingsUpdate;

impl OperatorWindow {
    pub(super) fn open_settings(&mut self) {
        if self.form.is_none() {
            self.form = Some(SettingsForm::from_raw(
                &self.settings,
                &self.prefs,
                &self.tr,
            ));
            self.form_message = None;
        }
    }

    /// Save (保存): check, write atomically, hand the settings to the
    /// running core (in force for the next call; the core's `settings`
    /// event says what it applied).
    pub fn save_settings(&mut self) {
        let Some(form) = self.form.as_mut() else {
            return;
        };
        let Some(settings) = form.finish(&self.settings_path) else {
            self.form_message = Some((false, self.tr.t("settings-has-errors")));
            return;
        };
        let raw = settings.raw.clone();
        let new_prefs = form.prefs.clone();
        if let Err(e) = crate::settings_store::save(&self.settings_path, &raw) {
            self.form_message = Some((
                false,
                self.tr.t1("settings-save-failed", "error", e.to_string()),
            ));
            return;
        }
        if let Err(e) = crate::settings_store::save_toml(&self.prefs_path, &new_prefs) {
            self.form_message = Some((
                false,
                self.tr.t1("settings-save-failed", "error", e.to_string()),
            ));
            return;
        }
        if new_prefs.start_with_system != self.prefs.start_with_system
            && let Some(home) = &self.config_home
        {
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("bbclient"));
            if let Err(e) = prefs::set_autostart(
                new_prefs.start_with_system,
                home,
                &exe,
                &self.instance,
                &self.settings_path,
            ) {
                self.notice = Some(self.tr.t1("settings-save-failed", "error", e));
            }
        }
        if let Some(lang) = new_prefs.lang() {
            self.tr.set_lang(lang);
        }
        self.prefs = new_prefs;
        if self.login_id.is_empty() {
            self.login_id = raw.operator.login_id.clone();
        }
        let changed = self.settings != raw;
        self.settings = raw;
        self.form = None;
        let saved = self.tr.t1(
            "settings-saved",
            "path",
            self.settings_path.display().to_string(),
        );
        if self.apply(settings) {
            // Until the core says what it put in force.
            self.saved_message = Some(saved.clone());
            self.notice = Some(saved);
        } else if changed {
            self.notice = Some(format!("{saved} — {}", self.tr.t("settings-restart")));
        } else {
            self.notice = Some(saved);
        }
    }

    /// Hands saved settings to the running core; false when it cannot
    /// take them.
    fn apply(&mut self, settings: crate::config::Settings) -> bool {
        let Some(tx) = &self.core.settings else {
            return false;
        };
        let (reply, rx) = oneshot::channel();
        match tx.try_send(SettingsUpdate { settings, reply }) {
            Ok(()) => {
                self.applying = Some(rx);
                true
            }
            Err(e) => {
                tracing::warn!("ui: the saved settings did not reach the core: {e}");
                false
            }
        }
    }

    /// Cancel (キャンセル): drop the edits.
    pub fn cancel_settings(&mut self) {
        self.form = None;
        self.form_message = None;
    }

    // ----------------------------------------------------------------------
    // Settings (UI-7)
    // ----------------------------------------------------------------------

    pub(super) fn settings_window(&mut self, ctx: &egui::Context) {
        if self.form.is_none() {
            return;
        }
        let builder = beside_main(ctx, ViewportBuilder::default())
            .with_title(self.tr.t("settings-title"))
            .with_inner_size([620.0, 560.0]);
        ctx.show_viewport_immediate(
            ViewportId::from_hash_of("bb-settings"),
            builder,
            |ui, class| {
                if ui.input(|i| i.viewport().close_requested()) {
                    self.cancel_settings();
                    return;
                }
                if class == ViewportClass::EmbeddedWindow {
                    self.settings_ui(ui);
                } else {
                    egui::CentralPanel::default().show(ui, |ui| self.settings_ui(ui));
                }
            },
        );
    }

    /// The settings window's content (public for screenshots).
    pub fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let Some(mut form) = self.form.take() else {
            return;
        };
        ui.horizontal(|ui| {
            for tab in Tab::ALL {
                let mut title = self.tr.t(tab.message_id());
                if form.tab_has_error(tab) {
                    title.push_str(" (!)");
                }
                if ui.selectable_label(form.tab == tab, title).clicked() {
                    form.tab = tab;
                }
            }
        });
        ui.separator();
        let footer = 64.0;
        egui::ScrollArea::vertical()
            .max_height((ui.available_height() - footer).max(120.0))
            .auto_shrink([false, true])
            .show(ui, |ui| match form.tab {
                Tab::Account => self.account_tab(ui, &mut form),
                Tab::Web => self.web_tab(ui, &mut form),
                Tab::Command => self.command_tab(ui, &mut form),
                Tab::Other => self.other_tab(ui, &mut form),
            });
        ui.separator();
        let mut save = false;
        let mut cancel = false;
        ui.horizontal(|ui| {
            if ui
                .add(egui::Button::new(self.tr.t("btn-save")).min_size(egui::vec2(90.0, 28.0)))
                .clicked()
            {
                save = true;
            }
            if ui
                .add(egui::Button::new(self.tr.t("btn-cancel")).min_size(egui::vec2(90.0, 28.0)))
                .clicked()
            {
                cancel = true;
            }
            if let Some(e) = form.error(Field::General) {
                ui.colored_label(Color32::from_rgb(200, 40, 40), e);
            }
        });
        if let Some((ok, msg)) = &self.form_message {
            let color = if *ok {
                Color32::from_rgb(40, 140, 60)
            } else {
                Color32::from_rgb(200, 40, 40)
            };
            ui.colored_label(color, msg);
        }
        self.form = Some(form);
        if save {
            self.save_settings();
        } else if cancel {
            self.cancel_settings();
        }
    }

    /// A labelled text field with its error and warnings beneath.
    fn text_field(
        &self,
        ui: &mut egui::Ui,
        form: &mut SettingsForm,
        field: Field,
        label: &str,
        multiline: bool,
        password: bool,
    ) {
        let id = egui::Id::unique(("bb-field", field));
        let l = ui.label(label);
        let Some(text) = form.text_mut(field) else {
            return;
        };
        let edit = if multiline {
            egui::TextEdit::multiline(text).desired_rows(5)
        } else {
            egui::TextEdit::singleline(text)
        };
        let out = edit
            .id(id)
            .password(password)
            .desired_width(f32::INFINITY)
            .show(ui);
        let response = out.response.response.clone().labelled_by(l.id);
        if let Some(r) = out.cursor_range
            && response.has_focus()
        {
            form.note_cursor(field, r.primary.index.0, r.secondary.index.0);
            if matches!(field, Field::OnRing | Field::OnAnswer | Field::OnHangup) {
                form.cmd_target = field;
            }
        }
        if response.changed() {
            form.validate();
        }
        self.field_notes(ui, form, field);
    }

    fn field_notes(&self, ui: &mut egui::Ui, form: &SettingsForm, field: Field) {
        if let Some(e) = form.error(field) {
            ui.label(
                RichText::new(e)
                    .color(Color32::from_rgb(200, 40, 40))
                    .small(),
            );
        }
        for w in form.warnings(field) {
            ui.label(
                RichText::new(self.tr.t1("field-warning", "text", w))
                    .color(Color32::from_rgb(190, 120, 0))
                    .small(),
            );
        }
    }

    /// The six placeholder buttons (WEB-2, CMD-4), inserting into `field`.
    fn placeholder_buttons(&self, ui: &mut egui::Ui, form: &mut SettingsForm, field: Field) {
        let id = egui::Id::unique(("bb-field", field));
        ui.horizontal_wrapped(|ui| {
            for p in Placeholder::ALL {
                let label = self.tr.t(placeholder_message(p));
                if ui.button(label).on_hover_text(p.token()).clicked() {
                    let cursor = form.insert_placeholder(field, p);
                    // Back to the box, the cursor just after the token.
                    let mut state =
                        egui::text_edit::TextEditState::load(ui.ctx(), id).unwrap_or_default();
                    let c = egui::text::CCursor::new(cursor);
                    state
                        .cursor
                        .set_char_range(Some(egui::text::CCursorRange::one(c)));
                    state.store(ui.ctx(), id);
                    ui.memory_mut(|m| m.request_focus(id));
                }
            }
        });
    }

    fn account_tab(&self, ui: &mut egui::Ui, form: &mut SettingsForm) {
        self.text_field(
            ui,
            form,
            Field::Server,
            &self.tr.t("acct-server"),
            false,
            false,
        );
        self.text_field(ui, form, Field::User, &self.tr.t("acct-user"), false, false);
        self.text_field(
            ui,
            form,
            Field::Password,
            &self.tr.t("acct-password"),
            false,
            true,
        );
        ui.label(self.tr.t("acct-transport"));
        ui.horizontal(|ui| {
            ui.radio_value(&mut form.transport, TransportChoice::Udp, "UDP");
            ui.radio_value(&mut form.transport, TransportChoice::Tcp, "TCP");
            ui.radio_value(&mut form.transport, TransportChoice::Tls, "TLS");
        });
        self.field_notes(ui, form, Field::Transport);
        ui.label(self.tr.t("acct-srtp"));
        ui.horizontal(|ui| {
            use bb_sip::sdes::Policy;
            ui.radio_value(&mut form.srtp, Policy::Off, self.tr.t("acct-srtp-off"));
            ui.radio_value(
                &mut form.srtp,
                Policy::Optional,
                self.tr.t("acct-srtp-optional"),
            );
            ui.radio_value(
                &mut form.srtp,
                Policy::Required,
                self.tr.t("acct-srtp-required"),
            );
        });
        self.field_notes(ui, form, Field::Srtp);
        ui.separator();
        self.text_field(
            ui,
            form,
            Field::OperatorId,
            &self.tr.t("acct-operator-id"),
            false,
            false,
        );
        self.text_field(
            ui,
            form,
            Field::OperatorPassword,
            &self.tr.t("acct-operator-password"),
            false,
            true,
        );
    }

    fn web_tab(&self, ui: &mut egui::Ui, form: &mut SettingsForm) {
        ui.label(RichText::new(self.tr.t("web-popup")).strong());
        ui.horizontal(|ui| {
            ui.label(self.tr.t("web-method"));
            let before = form.popup_method;
            ui.radio_value(&mut form.popup_method, bb_cti::HttpMethod::Get, "GET");
            ui.radio_value(&mut form.popup_method, bb_cti::HttpMethod::Post, "POST");
            if form.popup_method != before {
                form.validate();
            }
        });
        self.text_field(
            ui,
            form,
            Field::PopupUrl,
            &self.tr.t("web-url"),
            false,
            false,
        );
        self.text_field(
            ui,
            form,
            Field::PopupParams,
            &self.tr.t("web-params"),
            true,
            false,
        );
        self.placeholder_buttons(ui, form, Field::PopupParams);
        ui.separator();
        ui.label(RichText::new(self.tr.t("web-detail")).strong());
        ui.horizontal(|ui| {
            ui.label(self.tr.t("web-method"));
            let mut get = true;
            ui.radio_value(&mut get, true, "GET");
            ui.add_enabled(false, egui::RadioButton::new(false, "POST"))
                .on_disabled_hover_text(self.tr.t("web-detail-get-only"));
            if ui
                .checkbox(&mut form.open_on_ring, self.tr.t("web-open-on-ring"))
                .changed()
            {
                form.validate();
            }
        });
        ui.label(
            RichText::new(self.tr.t("web-detail-get-only"))
                .small()
                .weak(),
        );
        self.text_field(
            ui,
            form,
            Field::DetailUrl,
            &self.tr.t("web-url"),
            false,
            false,
        );
        self.text_field(
            ui,
            form,
            Field::DetailParams,
            &self.tr.t("web-params"),
            true,
            false,
        );
        self.placeholder_buttons(ui, form, Field::DetailParams);
        self.text_field(
            ui,
            form,
            Field::DetailBrowser,
            &self.tr.t("web-browser"),
            false,
            false,
        );
        ui.separator();
        ui.checkbox(&mut form.web_skip_internal, self.tr.t("skip-internal"));
    }

    fn command_tab(&self, ui: &mut egui::Ui, form: &mut SettingsForm) {
        self.text_field(
            ui,
            form,
            Field::OnRing,
            &self.tr.t("cmd-on-ring"),
            false,
            false,
        );
        self.text_field(
            ui,
            form,
            Field::OnAnswer,
            &self.tr.t("cmd-on-answer"),
            false,
            false,
        );
        self.text_field(
            ui,
            form,
            Field::OnHangup,
            &self.tr.t("cmd-on-hangup"),
            false,
            false,
        );
        ui.separator();
        ui.horizontal(|ui| {
            ui.label(RichText::new(self.tr.t("cmd-params")).strong());
            ui.label(self.tr.t("cmd-target"));
            for (field, id) in [
                (Field::OnRing, "cmd-on-ring"),
                (Field::OnAnswer, "cmd-on-answer"),
                (Field::OnHangup, "cmd-on-hangup"),
            ] {
                ui.radio_value(&mut form.cmd_target, field, self.tr.t(id));
            }
        });
        let target = form.cmd_target;
        self.placeholder_buttons(ui, form, target);
        ui.separator();
        ui.checkbox(&mut form.cmd_skip_internal, self.tr.t("skip-internal"));
    }

    fn other_tab(&mut self, ui: &mut egui::Ui, form: &mut SettingsForm) {
        ui.label(RichText::new(self.tr.t("other-audio")).strong());
        let devices = self.devices.names().cloned();
        for (field, label, names) in [
            (
                Field::AudioInput,
                "other-audio-in",
                devices.as_ref().map(|d| d.0.clone()),
            ),
            (
                Field::AudioOutput,
                "other-audio-out",
                devices.as_ref().map(|d| d.1.clone()),
            ),
            (
                Field::RingDevice,
                "other-ring-device",
                devices.as_ref().map(|d| d.1.clone()),
            ),
        ] {
            ui.horizontal(|ui| {
                let l = ui.label(self.tr.t(label));
                let hint = if field == Field::RingDevice {
                    self.tr.t("other-ring-hint")
                } else {
                    self.tr.t("other-audio-hint")
                };
                let Some(text) = form.text_mut(field) else {
                    return;
                };
                ui.add(
                    egui::TextEdit::singleline(text)
                        .hint_text(hint)
                        .desired_width(260.0),
                )
                .labelled_by(l.id);
                let pick = ui.menu_button(self.tr.t("other-audio-pick"), |ui| {
                    let mut choice = None;
                    if ui.button(self.tr.t("other-audio-hint")).clicked() {
                        choice = Some(String::new());
                    }
                    if ui.button(self.tr.t("other-audio-null")).clicked() {
                        choice = Some("null".to_owned());
                    }
                    for name in names.iter().flatten() {
                        if ui.button(name).clicked() {
                            // The list shows `"id" (description)`; the
                            // settings take the id.
                            choice = Some(crate::media::device::setting_value(name));
                        }
                    }
                    if let Some(c) = choice {
                        if let Some(text) = form.text_mut(field) {
                            *text = c;
                        }
                        ui.close();
                    }
                });
                if pick.response.clicked() {
                    self.devices.start();
                }
            });
            self.field_notes(ui, form, field);
        }
        ui.checkbox(&mut form.ring, self.tr.t("other-ring-on"));
        for (value, label) in [
            (&mut form.input_volume, "other-volume-in"),
            (&mut form.output_volume, "other-volume-out"),
            (&mut form.ring_volume, "other-volume-ring"),
        ] {
            ui.horizontal(|ui| {
                let l = ui.label(self.tr.t(label));
                ui.add(egui::Slider::new(value, 0..=100).suffix(" %"))
                    .labelled_by(l.id);
            });
        }
        if ui
            .button(self.tr.t("other-test-tone"))
            .on_hover_text(self.tr.t("hint-test-tone"))
            .clicked()
        {
            test_tone(form, &self.settings_path);
        }
        ui.label(RichText::new(self.tr.t("other-codecs")).strong());
        let mut up = None;
        let count = form.codecs.len();
        let mut toggled = false;
        for (i, (codec, on)) in form.codecs.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                ui.label(format!("{}.", i + 1));
                toggled |= ui.checkbox(on, codec.as_str()).changed();
                if ui
                    .add_enabled(i > 0, egui::Button::new(self.tr.t("other-up")))
                    .clicked()
                {
                    up = Some(i);
                }
                if ui
                    .add_enabled(i + 1 < count, egui::Button::new(self.tr.t("other-down")))
                    .clicked()
                {
                    up = Some(i + 1);
                }
            });
        }
        if let Some(i) = up {
            settings_form::move_codec_up(&mut form.codecs, i);
        }
        if toggled {
            form.validate();
        }
        self.field_notes(ui, form, Field::Codecs);
        ui.label(
            RichText::new(self.tr.t("other-applies-later"))
                .small()
                .weak(),
        );
        ui.separator();
        ui.horizontal(|ui| {
            let current = form.prefs.lang().unwrap_or(self.tr.lang());
            egui::ComboBox::new("bb-lang", self.tr.t("other-language"))
                .selected_text(current.native_name())
                .show_ui(ui, |ui| {
                    for lang in Lang::ALL {
                        let name = format!("{} ({})", lang.native_name(), lang.code());
                        if ui.selectable_label(current == lang, name).clicked() {
                            form.prefs.language = lang.code().to_owned();
                        }
                    }
                });
        });
        ui.add_enabled(
            self.config_home.is_some(),
            egui::Checkbox::new(
                &mut form.prefs.start_with_system,
                self.tr.t("other-autostart"),
            ),
        );
        ui.separator();
        ui.label(RichText::new(self.tr.t("other-handlers")).strong());
        ui.horizontal(|ui| {
            if ui.button(self.tr.t("other-handlers-install")).clicked() {
                self.form_message = Some(self.handlers(true));
            }
            if ui.button(self.tr.t("other-handlers-uninstall")).clicked() {
                self.form_message = Some(self.handlers(false));
            }
        });
    }

    /// Registers or unregisters the URI handlers (URI-3), as
    /// `bbclient install-handlers` does.
    fn handlers(&self, install: bool) -> (bool, String) {
        let env = |k: &str| std::env::var_os(k);
        let layout = match crate::handlers::Layout::from_env(&env) {
            Ok(l) => l,
            Err(e) => return (false, e),
        };
        let mut lines = Vec::new();
        let mut say = |l: String| lines.push(l);
        let outcome = if install {
            match std::env::current_exe() {
                Ok(exe) => crate::handlers::install(
                    &crate::handlers::InstallOptions {
                        exe,
                        instance: self.instance.clone(),
                        config: Some(self.settings_path.clone()),
                        layout,
                    },
                    &mut say,
                ),
                Err(e) => Err(format!("cannot find this program's path: {e}")),
            }
        } else {
            crate::handlers::uninstall(&layout, &mut say)
        };
        match outcome {
            Ok(()) => (true, lines.last().cloned().unwrap_or_default()),
            Err(e) => (false, e),
        }
    }

    /// Opens the settings window on a tab (for screenshots and tests).
    pub fn show_settings(&mut self, tab: Tab) {
        self.open_settings();
        if let Some(f) = self.form.as_mut() {
            f.tab = tab;
        }
    }
}

/// The status line after the core took saved settings: `saved` (e.g.
/// "Saved: PATH"), then what is in force now, what waits for a restart and
/// what failed.
pub fn settings_notice(
    tr: &Tr,
    saved: String,
    applied: &[String],
    after_restart: &[String],
    failed: &[String],
) -> String {
    let keys = after_restart.join(", ");
    let tail = match (applied.is_empty(), after_restart.is_empty()) {
        (true, true) => tr.t("settings-nothing-changed"),
        (false, true) => tr.t("settings-in-force"),
        (false, false) => tr.t1("settings-in-force-except", "keys", keys),
        (true, false) => tr.t1("settings-after-restart", "keys", keys),
    };
    let mut line = format!("{saved}; {tail}");
    if !failed.is_empty() {
        line.push_str("; ");
        line.push_str(&tr.t1("settings-not-applied", "errors", failed.join("; ")));
    }
    line
}

/// The fluent message ID of a placeholder button.
pub fn placeholder_message(p: Placeholder) -> &'static str {
    match p {
        Placeholder::CallerNumber => "ph-caller",
        Placeholder::Exten => "ph-exten",
        Placeholder::OutLineNumber => "ph-outline",
        Placeholder::CallId => "ph-callid",
        Placeholder::OpId => "ph-opid",
        Placeholder::OpPw => "ph-oppw",
    }
}

/// The Other tab's Test button: the ringtone on the ring device as the form
/// now says (not yet saved), for 2 seconds; the same rules as the ringer
/// (`AudioSettings`, `sounds::ringtone`).
fn test_tone(form: &SettingsForm, settings_path: &std::path::Path) {
    let mut raw = form.to_raw().audio;
    // The test plays even while ringing is switched off.
    raw.ring = true;
    let audio = match crate::media::AudioSettings::from_raw(&raw, settings_path) {
        Ok(a) => a,
        Err((key, message)) => {
            tracing::warn!("test tone not played: {key}: {message}");
            return;
        }
    };
    let output = audio
        .effective_ring_output()
        .unwrap_or(crate::media::Output::Null);
    crate::media::tones::play_test(
        output,
        crate::sounds::ringtone(&audio),
        std::time::Duration::from_secs(2),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_status_line_says_what_is_in_force_and_what_waits() {
        let tr = Tr::new(Lang::En);
        let saved = || "Saved: /x.toml".to_string();
        assert_eq!(
            settings_notice(&tr, saved(), &v(&["web"]), &[], &[]),
            "Saved: /x.toml; in force for the next call"
        );
        assert_eq!(
            settings_notice(&tr, saved(), &v(&["web"]), &v(&["audio", "sip.t1_ms"]), &[]),
            "Saved: /x.toml; in force for the next call, except audio, sip.t1_ms (after a restart)"
        );
        assert_eq!(
            settings_notice(&tr, saved(), &[], &v(&["account.transport"]), &[]),
            "Saved: /x.toml; account.transport in force after a restart"
        );
        assert_eq!(
            settings_notice(&tr, saved(), &[], &[], &[]),
            "Saved: /x.toml; nothing changed"
        );
        assert_eq!(
            settings_notice(
                &tr,
                saved(),
                &v(&["web"]),
                &[],
                &v(&["history: cannot open"])
            ),
            "Saved: /x.toml; in force for the next call; not in force: history: cannot open"
        );
        let ja = settings_notice(
            &Tr::new(Lang::Ja),
            "保存しました".into(),
            &v(&["web"]),
            &[],
            &[],
        );
        assert_eq!(ja, "保存しました; 次の通話から有効です");
    }
}
