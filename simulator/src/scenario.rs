//! Scenario files: a timed sequence of what QA would otherwise do by hand
//! over the API (outside callers calling, hanging up, sending DTMF, operators
//! logging in and changing state, campaigns starting, party rules, session
//! timers).
//!
//! TOML (or the same shape in JSON over `POST /api/scenarios`):
//!
//! ```toml
//! name = "two calls into the support queue"
//!
//! [[step]]
//! at_ms = 0
//! action = "login"
//! login_id = "op1910"
//! password = "op-secret"
//! extension = "1910"
//!
//! [[step]]
//! at_ms = 500
//! action = "call"
//! name = "c1"              # later steps refer to the call by this name
//! from = "09011112222"
//! to = "0312345680"
//! script = { hangup_after_ms = 20000, play = "tone:440" }
//!
//! [[step]]
//! at_ms = 8000
//! action = "hangup"
//! call = "c1"
//!
//! # Outside party rule: 183 with early media (620 Hz) for 3 s, then answer.
//! [[step]]
//! action = "party"
//! script = { number = "0901234*", early_media_ms = 3000, early_play = "tone:620" }
//!
//! # Session timers (RFC 4028) from now on: 90 s, the simulator refreshes.
//! [[step]]
//! action = "session_timer"
//! session_timer = { session_expires = 90, refresher = "simulator", refresh = "normal" }
//! ```
//!
//! Steps run in `at_ms` order, measured from the start of the scenario. A
//! step that fails is recorded (and logged as a `scenario_step` event) and
//! the scenario goes on. Files are checked completely before anything runs:
//! unknown keys, unknown actions and missing fields are refused with the
//! step's index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::acd::Requested;
use crate::party::PartyScript;
use crate::state::{SimState, lock};
use crate::tenant::SessionTimerSettings;

/// A scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for logs and the API.
    #[serde(default)]
    pub name: String,
    /// The steps.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

/// One step; `action` says which fields it uses.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When, in ms from the scenario's start.
    #[serde(default)]
    pub at_ms: u64,
    /// `call`, `hangup`, `answer`, `dtmf`, `login`, `logout`, `state`,
    /// `campaign_start`, `campaign_stop`, `party`, `session_timer`.
    pub action: String,
    /// `call`: the name later steps use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `call`: the caller's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `call`: the outside line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `call`: the caller's script; `party`: the rule (with `number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<PartyScript>,
    /// `hangup`, `answer`, `dtmf`: the call's name (or its numeric id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// `dtmf`: the digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<String>,
    /// `login`, `logout`, `state`: the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    /// `login`: the operator's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `login`: the extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// `state`: `available`, `not_available` or `after_call_work`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `campaign_start`, `campaign_stop`: the campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// `session_timer`: the settings from now on (`session_expires`, 0 off
    /// or 90.., `refresher` and `refresh`, as in the tenant's `[sip]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timer: Option<SessionTimerSettings>,
}

/// Parses an operator state name.
pub fn parse_state(s: &str) -> Option<Requested> {
    match s {
        "available" => Some(Requested::Available),
        "not_available" => Some(Requested::NotAvailable),
        "after_call_work" => Some(Requested::AfterCallWork),
        _ => None,
    }
}

impl Scenario {
    /// Parses TOML; `origin` names the text in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| {
            format!(
                "scenario '{origin}': {}",
                e.to_string().trim().replace('\n', " ")
            )
        })?;
        s.check().map_err(|e| format!("scenario '{origin}': {e}"))?;
        Ok(s)
    }

    /// Checks every step has what its action needs.
    pub fn check(&self) -> Result<(), String> {
        let mut names = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            let need = |field: &str, v: &Option<String>| -> Result<(), String> {
                if v.as_deref().is_none_or(str::is_empty) {
                    Err(format!("step[{i}] ({}): '{field}' is required", s.action))
                } else {
                    Ok(())
                }
            };
            match s.action.as_str() {
                "call" => {
                    need("from", &s.from)?;
                    need("to", &s.to)?;
                    if let Some(script) = &s.script {
                        script
                            .check()
                            .map_err(|e| format!("step[{i}].script.{e}"))?;
                    }
                    if let Some(n) = &s.name {
                        names.push(n.clone());
                    }
                }
                "hangup" | "answer" => need("call", &s.call)?,
                "dtmf" => {
                    need("call", &s.call)?;
                    need("digits", &s.digits)?;
                }
                "login" => {
                    need("login_id", &s.login_id)?;
                    need("password", &s.password)?;
                    need("extension", &s.extension)?;
                }
                "logout" => need("login_id", &s.login_id)?,
                "state" => {
                    need("login_id", &s.login_id)?;
                    need("state", &s.state)?;
                    if parse_state(s.state.as_deref().unwrap_or_default()).is_none() {
                        return Err(format!(
                            "step[{i}] (state): '{}' is not available, not_available or after_call_work",
                            s.state.as_deref().unwrap_or_default()
                        ));
                    }
                }
                "campaign_start" | "campaign_stop" => need("campaign", &s.campaign)?,
                "party" => {
                    let Some(script) = &s.script else {
                        return Err(format!(
                            "step[{i}] (party): 'script' with a 'number' pattern is required"
                        ));
                    };
                    if script.number.as_deref().is_none_or(str::is_empty) {
                        return Err(format!("step[{i}] (party): script.number is required"));
                    }
                    script
                        .check()
                        .map_err(|e| format!("step[{i}].script.{e}"))?;
                }
                "session_timer" => {
                    let Some(st) = &s.session_timer else {
                        return Err(format!(
                            "step[{i}] (session_timer): 'session_timer' is required (e.g. {{ session_expires = 90 }})"
                        ));
                    };
                    st.check(&format!("step[{i}].session_timer.session_expires"))?;
                }
                other => {
                    return Err(format!(
                        "step[{i}]: unknown action '{other}' (call, hangup, answer, dtmf, login, logout, state, campaign_start, campaign_stop, party, session_timer)"
                    ));
                }
            }
            if let Some(c) = &s.call
                && c.parse::<u64>().is_err()
                && !names.contains(c)
            {
                return Err(format!(
                    "step[{i}] ({}): no earlier call step is named '{c}'",
                    s.action
                ));
            }
        }
        Ok(())
    }
}

/// What happened to one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// Index in the file.
    pub index: usize,
    /// The action.
    pub action: String,
    /// When it ran (ms since the scenario started).
    pub ran_at_ms: u64,
    /// Whether it worked.
    pub ok: bool,
    /// The call id, result or error.
    pub detail: serde_json::Value,
}

/// A scenario's progress.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioStatus {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `running` or `finished`.
    pub state: &'static str,
    /// Steps done.
    pub results: Vec<StepResult>,
    /// Call names and their ids.
    pub calls: HashMap<String, u64>,
}

/// The scenarios of a simulator.
#[derive(Default)]
pub struct Scenarios {
    runs: Mutex<Vec<Arc<Mutex<ScenarioStatus>>>>,
}

impl Scenarios {
    /// Starts `scenario` in the background; returns its id.
    pub fn start(&self, sim: &Arc<SimState>, scenario: Scenario) -> u64 {
        let status = {
            let mut runs = lock(&self.runs);
            let id = runs.len() as u64 + 1;
            let st = Arc::new(Mutex::new(ScenarioStatus {
                id,
                name: scenario.name.clone(),
                state: "running",
                results: Vec::new(),
                calls: HashMap::new(),
            }));
            runs.push(st.clone());
            st
        };
        let id = lock(&status).id;
        let sim = sim.clone();
        tokio::spawn(async move { run(sim, scenario, status).await });
        id
    }

    /// One scenario's status.
    pub fn status(&self, id: u64) -> Option<ScenarioStatus> {
        lock(&self.runs)
            .get(id.checked_sub(1)? as usize)
            .map(|s| lock(s).clone())
    }

    /// Every scenario's status.
    pub fn all(&self) -> Vec<ScenarioStatus> {
        lock(&self.runs).iter().map(|s| lock(s).clone()).collect()
    }
}

async fn run(sim: Arc<SimState>, scenario: Scenario, status: Arc<Mutex<ScenarioStatus>>) {
    let mut steps: Vec<(usize, Step)> = scenario.steps.into_iter().enumerate().collect();
    steps.sort_by_key(|(i, s)| (s.at_ms, *i));
    let start = tokio::time::Instant::now();
    let id = lock(&status).id;
    for (index, step) in steps {
        tokio::select! {
            _ = tokio::time::sleep_until(start + Duration::from_millis(step.at_ms)) => {}
            _ = sim.cancel.cancelled() => return,
        }
        let calls = lock(&status).calls.clone();
        let result = run_step(&sim, &step, &calls);
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| serde_json::json!({"error": e}));
        if ok
            && step.action == "call"
            && let (Some(name), Some(call)) = (&step.name, detail["id"].as_u64())
        {
            lock(&status).calls.insert(name.clone(), call);
        }
        sim.event(
            "scenario_step",
            detail["id"].as_u64(),
            serde_json::json!({"scenario": id, "index": index, "action": step.action, "ok": ok}),
        );
        lock(&status).results.push(StepResult {
            index,
            action: step.action.clone(),
            ran_at_ms: start.elapsed().as_millis() as u64,
            ok,
            detail,
        });
    }
    lock(&status).state = "finished";
}

fn call_id(step: &Step, calls: &HashMap<String, u64>) -> Result<u64, String> {
    let c = step.call.as_deref().unwrap_or_default();
    calls
        .get(c)
        .copied()
        .or_else(|| c.parse().ok())
        .ok_or_else(|| format!("no call named '{c}' (did its call step fail?)"))
}

fn run_step(
    sim: &Arc<SimState>,
    step: &Step,
    calls: &HashMap<String, u64>,
) -> Result<serde_json::Value, String> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    match step.action.as_str() {
        "call" => {
            let view = sim
                .parties
                .place(sim, &s(&step.from), &s(&step.to), step.script.clone())
                .map_err(|e| match e {
                    crate::parties::PlaceOrRtp::Place(p) => p.to_string(),
                    crate::parties::PlaceOrRtp::Rtp(r) => r,
                })?;
            Ok(serde_json::json!({"id": view.id}))
        }
        "hangup" => {
            let call = call_id(step, calls)?;
            if sim.parties.hangup(sim, call).is_err()
                && !sim.with(|p, now| p.hangup_call(call, now))
            {
                return Err(format!("call {call} is not live"));
            }
            Ok(serde_json::json!({"id": call}))
        }
        "answer" => {
            let call = call_id(step, calls)?;
            sim.parties.answer(sim, call).map_err(|e| e.to_string())?;
            Ok(serde_json::json!({"id": call}))
        }
        "dtmf" => {
            let call = call_id(step, calls)?;
            sim.parties
                .dtmf(sim, call, &s(&step.digits))
                .map_err(|e| e.to_string())?;
            Ok(serde_json::json!({"id": call}))
        }
        "login" => sim
            .with(|p, now| {
                p.operator_login(
                    &s(&step.login_id),
                    &s(&step.password),
                    &s(&step.extension),
                    now,
                )
            })
            .map(|_| serde_json::json!({"login_id": step.login_id}))
            .map_err(|e| e.to_string()),
        "logout" => sim
            .with(|p, now| p.operator_logout(&s(&step.login_id), now))
            .map(|_| serde_json::json!({"login_id": step.login_id}))
            .map_err(|e| e.to_string()),
        "state" => {
            let req = parse_state(&s(&step.state)).ok_or("bad state")?;
            sim.with(|p, now| p.operator_state(&s(&step.login_id), req, now))
                .map(|_| serde_json::json!({"login_id": step.login_id, "state": step.state}))
                .map_err(|e| e.to_string())
        }
        "campaign_start" => sim
            .with(|p, now| p.campaign_start(&s(&step.campaign), now))
            .map(|_| serde_json::json!({"campaign": step.campaign}))
            .map_err(|e| e.to_string()),
        "campaign_stop" => sim
            .with(|p, now| p.campaign_stop(&s(&step.campaign), now))
            .map(|_| serde_json::json!({"campaign": step.campaign}))
            .map_err(|e| e.to_string()),
        "party" => {
            let rule = step.script.clone().ok_or("no script")?;
            sim.parties.add_rule(rule);
            Ok(serde_json::json!({"rule": "added"}))
        }
        "session_timer" => {
            let st = step.session_timer.ok_or("no session_timer")?;
            sim.with(|p, now| p.set_session_timer(st, now))?;
            Ok(serde_json::json!({"session_timer": st}))
        }
        other => Err(format!("unknown action '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_parses_and_bad_ones_name_the_step() {
        let good = r#"
name = "x"
[[step]]
action = "login"
login_id = "op1910"
password = "op-secret"
extension = "1910"
[[step]]
at_ms = 100
action = "call"
name = "c1"
from = "0901"
to = "0312345680"
script = { hangup_after_ms = 5000 }
[[step]]
at_ms = 200
action = "dtmf"
call = "c1"
digits = "12"
"#;
        let s = Scenario::from_toml(good, "good.toml").expect("parses");
        assert_eq!(s.steps.len(), 3);
        let timers = "[[step]]\naction = \"session_timer\"\nsession_timer = { session_expires = 90, refresh = \"never\" }\n[[step]]\naction = \"party\"\nscript = { number = \"09*\", early_media_ms = 3000, early_play = \"tone:620\" }\n";
        let s = Scenario::from_toml(timers, "timers.toml").expect("parses");
        assert_eq!(
            s.steps[0].session_timer.map(|t| t.session_expires),
            Some(90)
        );
        let cases = [
            (
                "[[step]]\naction = \"fly\"\n",
                "step[0]: unknown action 'fly'",
            ),
            (
                "[[step]]\naction = \"call\"\nfrom = \"1\"\n",
                "step[0] (call): 'to' is required",
            ),
            (
                "[[step]]\naction = \"hangup\"\ncall = \"zz\"\n",
                "no earlier call step is named 'zz'",
            ),
            (
                "[[step]]\naction = \"state\"\nlogin_id = \"a\"\nstate = \"busy\"\n",
                "'busy' is not available",
            ),
            (
                "[[step]]\naction = \"call\"\nfrom = \"1\"\nto = \"2\"\nextra = 1\n",
                "extra",
            ),
            (
                "[[step]]\naction = \"party\"\nscript = { answer_after_ms = 1 }\n",
                "script.number is required",
            ),
            (
                "[[step]]\naction = \"session_timer\"\nsession_timer = { session_expires = 30 }\n",
                "step[0].session_timer.session_expires: 30 s",
            ),
            (
                "[[step]]\naction = \"session_timer\"\n",
                "'session_timer' is required",
            ),
            (
                "[[step]]\naction = \"party\"\nscript = { number = \"1*\", early_media_ms = 0 }\n",
                "step[0].script.early_media_ms",
            ),
        ];
        for (text, want) in cases {
            let err = Scenario::from_toml(text, "s.toml").expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
