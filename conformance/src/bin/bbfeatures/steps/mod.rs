//! Step definitions, one module per area of the spec.

use cucumber::gherkin::Step;

pub mod acd;
pub mod calls;
pub mod control;
pub mod cti;
pub mod cti_crm;
pub mod cti_hooks;
pub mod cti_output;
// Internal calls through the simulator's B2BUA (WEB-6, CMD-5).
pub mod internal;
pub mod web;
// The operator's window over a real core, and two-way audio (CALL-1).
pub mod audio;
pub mod settings_crash;
// The operator's everyday phone: ringer, tones, mute, do not disturb.
pub mod sounds;
pub mod srtp;
// Strangers on the network.
pub mod strangers;
// A QA team's own settings file, tenant and CRM.
pub mod team;
pub mod ui;
pub mod ui_calls;
pub mod ui_popup;
pub mod ui_settings;

/// The doc string of a step, without surrounding blank lines.
pub fn docstring(step: &Step) -> Result<String, String> {
    step.docstring
        .as_ref()
        .map(|d| d.trim_matches('\n').to_string())
        .ok_or_else(|| format!("step '{}' needs a doc string", step.value))
}
// The shipped `bbclient run` window under Xvfb, driven with xdotool.
pub mod xwindow;
