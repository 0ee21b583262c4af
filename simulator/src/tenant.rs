//! The tenant: who and what the fake BlueBean server knows: extensions,
//! outside lines and where they route, ring groups, operators, ACD queues,
//! predictive-dialling campaigns, the caller-ID prefix table and the scripts
//! of the simulated outside parties.
//!
//! Loaded from TOML; `bluebean-sim --print-default-config` prints the built-in
//! tenant that is used when no file is given. Loading is two steps, raw then
//! checked: serde refuses unknown keys (naming the key and line), then
//! [`Tenant::validate`] refuses inconsistent references, naming the key path
//! (`queues.support.overflow.queue: 'x' is not a queue of this tenant`). A
//! tenant that loaded is consistent: the call logic never meets a dangling name.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::party::PartyScript;

/// The whole tenant configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// SIP realm used in digest challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// SIP behaviour of the server.
    #[serde(default)]
    pub sip: SipSettings,
    /// Extensions by number.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
    /// Company outside lines (DID numbers) by number.
    #[serde(default)]
    pub outside_lines: BTreeMap<String, OutsideLine>,
    /// Ring groups by name.
    #[serde(default)]
    pub ring_groups: BTreeMap<String, RingGroup>,
    /// Operators (ACD agents) by login ID.
    #[serde(default)]
    pub operators: BTreeMap<String, Operator>,
    /// ACD queues by name.
    #[serde(default)]
    pub queues: BTreeMap<String, Queue>,
    /// Predictive-dialling campaigns by name.
    #[serde(default)]
    pub campaigns: BTreeMap<String, Campaign>,
    /// Caller-ID prefixes (ACD-4): a dialled number starting with the prefix
    /// goes out without it, showing the mapped outside line as caller ID.
    #[serde(default)]
    pub caller_id_prefixes: BTreeMap<String, String>,
    /// Scripts of simulated outside parties, first matching `number` wins.
    #[serde(default)]
    pub parties: Vec<PartyScript>,
    /// The script of outside parties that no rule matches.
    #[serde(default = "PartyScript::default_answering")]
    pub default_party: PartyScript,
}

fn default_realm() -> String {
    "bluebean".to_string()
}

/// SIP behaviour of the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SipSettings {
    /// Digest algorithms offered in challenges, one `WWW-Authenticate` each,
    /// in this order: `"MD5"`, `"SHA-256"`, or `"SHA256"` (SHA-256 spelled
    /// the way rsipstack 0.7.14 clients require).
    #[serde(default = "default_algorithms")]
    pub auth_algorithms: Vec<String>,
    /// Challenge INVITEs from extensions with 407 (as BlueBean does).
    #[serde(default = "yes")]
    pub challenge_invites: bool,
    /// Accept INVITEs from SIP peers that are not extensions when they call
    /// an outside line (a carrier delivering a DID call; sipp in load runs).
    #[serde(default = "yes")]
    pub trunk_calls: bool,
    /// Check every datagram with the full SIP parser before the stack sees it
    /// and answer 400 to malformed requests (off: only the cheap checks).
    #[serde(default = "yes")]
    pub strict_parse: bool,
    /// The outside line shown on outgoing calls of extensions that name none.
    #[serde(default)]
    pub default_caller_id: Option<String>,
    /// How long a directly dialled extension or outside number rings before
    /// the caller hears 480.
    #[serde(default = "default_direct_ring_ms")]
    pub ring_timeout_ms: u64,
    /// Session timers (RFC 4028): the `Session-Expires` interval in seconds
    /// the simulator offers in its INVITEs to extensions and states in its
    /// 2xx to their INVITEs; 0 (the default) turns session timers off. At
    /// least 90 (the RFC's minimum) when on.
    #[serde(default)]
    pub session_expires: u32,
    /// Who sends the refreshes where the simulator chooses: `"extension"`
    /// (the default: the phone refreshes) or `"simulator"`. An extension
    /// whose INVITE does not list `timer` in `Supported` cannot refresh, so
    /// the simulator does (RFC 4028 section 9).
    #[serde(default)]
    pub session_refresher: SessionRefresher,
    /// What the simulator does when it is the refresher: `"normal"` (refresh
    /// at half the interval) or `"never"` (a peer that stops refreshing, so
    /// the extension must end the call with BYE when the session expires).
    #[serde(default)]
    pub session_refresh: SessionRefresh,
    /// After an attended transfer, leave the transferor's two legs up
    /// (detached from the joined call) until the transferor ends them with
    /// its own BYEs, as RFC 5589 has it, instead of sending BYE on them
    /// (the default, as many PBXs do). A transferor that never hangs up
    /// keeps them up.
    #[serde(default)]
    pub transferor_hangs_up: bool,
}

/// Who refreshes a session when the simulator chooses (RFC 4028).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionRefresher {
    /// The extension (the phone).
    #[default]
    Extension,
    /// The simulator.
    Simulator,
}

/// How the simulator behaves as the refresher.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionRefresh {
    /// Refresh at half the interval.
    #[default]
    Normal,
    /// Never refresh: a peer that has gone silent.
    Never,
}

/// The session-timer settings the PBX applies: `[sip] session_expires`,
/// `session_refresher` and `session_refresh`, changeable at run time with
/// `POST /api/session_timer` and the scenario action `session_timer`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SessionTimerSettings {
    /// The interval in seconds; 0 is off.
    #[serde(default)]
    pub session_expires: u32,
    /// Who refreshes where the simulator chooses.
    #[serde(default)]
    pub refresher: SessionRefresher,
    /// Whether the simulator refreshes when it is the refresher.
    #[serde(default)]
    pub refresh: SessionRefresh,
}

impl SessionTimerSettings {
    /// The smallest interval accepted (RFC 4028's floor, our `Min-SE`).
    pub const MIN_SE: u32 = 90;
    /// The largest interval accepted (a day).
    pub const MAX_SE: u32 = 86_400;

    /// Checks the interval; the error names the key as `key`.
    pub fn check(&self, key: &str) -> Result<(), String> {
        let n = self.session_expires;
        if n != 0 && !(Self::MIN_SE..=Self::MAX_SE).contains(&n) {
            return Err(format!(
                "{key}: {n} s is not 0 (off) or {}..{} s (RFC 4028's minimum is {} s)",
                Self::MIN_SE,
                Self::MAX_SE,
                Self::MIN_SE
            ));
        }
        Ok(())
    }

    /// Whether session timers are on.
    pub fn on(&self) -> bool {
        self.session_expires > 0
    }
}

fn yes() -> bool {
    true
}

fn default_algorithms() -> Vec<String> {
    vec!["MD5".to_string()]
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            auth_algorithms: default_algorithms(),
            challenge_invites: true,
            trunk_calls: true,
            strict_parse: true,
            default_caller_id: None,
            ring_timeout_ms: default_direct_ring_ms(),
            session_expires: 0,
            session_refresher: SessionRefresher::default(),
            session_refresh: SessionRefresh::default(),
            transferor_hangs_up: false,
        }
    }
}

fn default_direct_ring_ms() -> u64 {
    60_000
}

impl SipSettings {
    /// The session-timer settings of this section.
    pub fn session_timer(&self) -> SessionTimerSettings {
        SessionTimerSettings {
            session_expires: self.session_expires,
            refresher: self.session_refresher,
            refresh: self.session_refresh,
        }
    }

    /// The configured algorithms, parsed (validated at load).
    pub fn algorithms(&self) -> Vec<crate::registrar::Offer> {
        self.auth_algorithms
            .iter()
            .filter_map(|a| crate::registrar::Offer::parse(a))
            .collect()
    }
}

/// A SIP extension (a softphone's account).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// The SIP digest password.
    pub password: String,
    /// Display name shown to called parties.
    #[serde(default)]
    pub name: String,
    /// The outside line shown as caller ID on this extension's outgoing calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
}

/// Where a call goes: exactly one of the three fields is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Ring this extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Put the call in this ACD queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Ring this ring group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_group: Option<String>,
}

/// A checked [`Target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An extension.
    Extension(String),
    /// An ACD queue.
    Queue(String),
    /// A ring group.
    RingGroup(String),
}

impl Target {
    /// An extension target.
    pub fn extension(ext: &str) -> Target {
        Target {
            extension: Some(ext.to_string()),
            ..Target::default()
        }
    }

    /// The route (the tenant was validated, so exactly one field is set).
    pub fn route(&self) -> Option<Route> {
        match (&self.extension, &self.queue, &self.ring_group) {
            (Some(e), None, None) => Some(Route::Extension(e.clone())),
            (None, Some(q), None) => Some(Route::Queue(q.clone())),
            (None, None, Some(g)) => Some(Route::RingGroup(g.clone())),
            _ => None,
        }
    }
}

/// A company outside line (a DID number) and where its calls go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutsideLine {
    /// Ring this extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Or: queue the call for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Or: ring a ring group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_group: Option<String>,
}

impl OutsideLine {
    /// The line's target.
    pub fn target(&self) -> Target {
        Target {
            extension: self.extension.clone(),
            queue: self.queue.clone(),
            ring_group: self.ring_group.clone(),
        }
    }
}

/// How a ring group rings its members.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RingStrategy {
    /// Every member at once; the first to answer gets the call.
    #[default]
    RingAll,
    /// One after the other, `ring_timeout_ms` each.
    Sequential,
}

/// A ring group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RingGroup {
    /// Member extensions, in hunting order.
    pub extensions: Vec<String>,
    /// Ringing strategy.
    #[serde(default)]
    pub strategy: RingStrategy,
    /// How long each member (sequential) or the group (ring all) rings.
    #[serde(default = "default_ring_ms")]
    pub ring_timeout_ms: u64,
}

fn default_ring_ms() -> u64 {
    20_000
}

/// An operator (ACD agent). The extension is chosen at login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// The operator password (`%OpPW%` on the softphone side).
    pub password: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// How a queue picks an operator.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueueStrategy {
    /// The available operator idle for the longest time.
    #[default]
    LongestIdle,
    /// The next available member after the one offered last, in member order.
    RoundRobin,
    /// Every available member at once; the first to answer gets the call.
    RingAll,
}

/// An ACD queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Operator selection.
    #[serde(default)]
    pub strategy: QueueStrategy,
    /// Operators who take this queue's calls; empty: every operator.
    #[serde(default)]
    pub members: Vec<String>,
    /// How long an offered operator rings before the call is offered to the next.
    #[serde(default = "default_offer_ms")]
    pub offer_timeout_ms: u64,
    /// How long a call may wait in the queue before it overflows.
    #[serde(default = "default_queue_ms")]
    pub timeout_ms: u64,
    /// Where overflowing calls go; none: the caller hears 480 and the call ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Target>,
    /// After-call work after each call of this queue (the operator is not
    /// offered calls meanwhile); 0: straight back to available.
    #[serde(default)]
    pub after_call_work_ms: u64,
    /// Ask the operator's phone to answer this queue's offers by itself
    /// (ACD and predictive calls), with one of the header forms phones
    /// know: `"call-info"` (`Call-Info: …;answer-after=0`), `"alert-info"`
    /// (`Alert-Info: …;info=alert-autoanswer`) or `"answer-mode"`
    /// (`Answer-Mode: Auto`, RFC 5373). None by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_answer: Option<AutoAnswerHeader>,
}

/// How a queue's offers ask for auto-answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AutoAnswerHeader {
    /// `Call-Info: <sip:bluebean-sim>;answer-after=0`
    CallInfo,
    /// `Alert-Info: <http://bluebean-sim/autoanswer>;info=alert-autoanswer`
    AlertInfo,
    /// `Answer-Mode: Auto`
    AnswerMode,
}

impl AutoAnswerHeader {
    /// The header (name, value).
    pub fn header(self) -> (String, String) {
        let (n, v) = match self {
            AutoAnswerHeader::CallInfo => ("Call-Info", "<sip:bluebean-sim>;answer-after=0"),
            AutoAnswerHeader::AlertInfo => (
                "Alert-Info",
                "<http://bluebean-sim/autoanswer>;info=alert-autoanswer",
            ),
            AutoAnswerHeader::AnswerMode => ("Answer-Mode", "Auto"),
        };
        (n.to_string(), v.to_string())
    }
}

fn default_offer_ms() -> u64 {
    15_000
}

fn default_queue_ms() -> u64 {
    60_000
}

/// A predictive-dialling campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// The queue whose operators take the answered calls.
    pub queue: String,
    /// The numbers to dial, in order.
    pub numbers: Vec<String>,
    /// Calls in progress per available operator at the start (≥ 1).
    #[serde(default = "one")]
    pub initial_ratio: f64,
    /// The most calls in progress per available operator pacing may reach.
    #[serde(default = "three")]
    pub max_ratio: f64,
    /// The highest acceptable abandon rate (abandons / answered), 0..1.
    #[serde(default = "default_abandon")]
    pub abandon_target: f64,
    /// An answered call that finds no operator within this time is abandoned.
    #[serde(default = "default_abandon_ms")]
    pub abandon_after_ms: u64,
    /// A number that rings this long without answer counts as no-answer.
    #[serde(default = "default_ring_ms")]
    pub ring_timeout_ms: u64,
    /// The outside line shown to the called parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
}

fn one() -> f64 {
    1.0
}
fn three() -> f64 {
    3.0
}
fn default_abandon() -> f64 {
    0.03
}
fn default_abandon_ms() -> u64 {
    2_000
}

/// Why a tenant file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The file could not be read.
    #[error("cannot read tenant file '{path}': {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key.
    #[error("tenant file '{path}': {message}")]
    Parse {
        /// The file.
        path: String,
        /// What toml said (names the key and line).
        message: String,
    },
    /// The content is inconsistent.
    #[error("tenant file '{path}': {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, starting with the key path.
        message: String,
    },
}

/// How many digits an extension number has.
pub const EXTENSION_DIGITS: std::ops::RangeInclusive<usize> = 2..=8;

/// Whether `s` can be an extension number: 2 to 8 ASCII digits, the first
/// not `0`. This is the numbering plan of a BlueBean-style PBX: `0` is the
/// outside-line access digit, so public numbers start with `0` or `+`, and
/// a softphone tells an internal call by its caller having this form and no
/// outside line being named (bb-cti's `InternalCallRule`, docs/simulator.md).
pub fn is_extension_number(s: &str) -> bool {
    EXTENSION_DIGITS.contains(&s.len())
        && !s.starts_with('0')
        && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is a dialable number: digits, optionally a leading `+`.
fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 32 && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Tenant {
    /// The built-in tenant used when none is given.
    pub fn builtin() -> Tenant {
        let mut extensions = BTreeMap::new();
        let mut operators = BTreeMap::new();
        for number in ["1910", "1911", "1912", "1303", "1330"] {
            extensions.insert(
                number.to_string(),
                Extension {
                    password: format!("pw{number}"),
                    name: format!("Operator {number}"),
                    caller_id: None,
                },
            );
            operators.insert(
                format!("op{number}"),
                Operator {
                    password: "op-secret".to_string(),
                    name: format!("Operator {number}"),
                },
            );
        }
        let mut outside_lines = BTreeMap::new();
        let line = |t: Target| OutsideLine {
            extension: t.extension,
            queue: t.queue,
            ring_group: t.ring_group,
        };
        outside_lines.insert("0312345678".to_string(), line(Target::extension("1910")));
        outside_lines.insert("0312345679".to_string(), line(Target::extension("1911")));
        outside_lines.insert(
            "0312345680".to_string(),
            line(Target {
                queue: Some("support".to_string()),
                ..Target::default()
            }),
        );
        outside_lines.insert(
            "0312345681".to_string(),
            line(Target {
                ring_group: Some("sales".to_string()),
                ..Target::default()
            }),
        );
        let mut ring_groups = BTreeMap::new();
        ring_groups.insert(
            "sales".to_string(),
            RingGroup {
                extensions: vec!["1303".to_string(), "1330".to_string()],
                strategy: RingStrategy::RingAll,
                ring_timeout_ms: default_ring_ms(),
            },
        );
        let mut queues = BTreeMap::new();
        queues.insert(
            "support".to_string(),
            Queue {
                strategy: QueueStrategy::LongestIdle,
                members: vec![],
                offer_timeout_ms: default_offer_ms(),
                timeout_ms: default_queue_ms(),
                overflow: Some(Target {
                    ring_group: Some("sales".to_string()),
                    ..Target::default()
                }),
                after_call_work_ms: 5_000,
                auto_answer: None,
            },
        );
        let mut campaigns = BTreeMap::new();
        campaigns.insert(
            "demo".to_string(),
            Campaign {
                queue: "support".to_string(),
                numbers: (1..=20).map(|i| format!("08001000{i:02}")).collect(),
                initial_ratio: 1.0,
                max_ratio: 3.0,
                abandon_target: default_abandon(),
                abandon_after_ms: default_abandon_ms(),
                ring_timeout_ms: default_ring_ms(),
                caller_id: Some("0312345680".to_string()),
            },
        );
        let mut caller_id_prefixes = BTreeMap::new();
        caller_id_prefixes.insert("7001".to_string(), "0312345678".to_string());
        caller_id_prefixes.insert("7002".to_string(), "0312345679".to_string());
        Tenant {
            realm: default_realm(),
            sip: SipSettings {
                default_caller_id: Some("0312345678".to_string()),
                ..SipSettings::default()
            },
            extensions,
            outside_lines,
            ring_groups,
            operators,
            queues,
            campaigns,
            caller_id_prefixes,
            parties: PartyScript::builtin_rules(),
            default_party: PartyScript::default_answering(),
        }
    }

    /// Parses and checks a tenant from TOML text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &str) -> Result<Tenant, TenantError> {
        let tenant: Tenant = toml::from_str(text).map_err(|e| TenantError::Parse {
            path: path.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        tenant.validate().map_err(|message| TenantError::Invalid {
            path: path.to_string(),
            message,
        })?;
        Ok(tenant)
    }

    /// Reads a tenant file.
    pub fn load(path: &Path) -> Result<Tenant, TenantError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TenantError::Read {
            path: shown.clone(),
            source,
        })?;
        Tenant::from_toml(&text, &shown)
    }

    /// The TOML text of this tenant.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render tenant: {e}\n"))
    }

    fn check_target(&self, key: &str, t: &Target) -> Result<(), String> {
        let set = [&t.extension, &t.queue, &t.ring_group]
            .iter()
            .filter(|f| f.is_some())
            .count();
        if set != 1 {
            return Err(format!(
                "{key}: give exactly one of extension, queue or ring_group (found {set})"
            ));
        }
        if let Some(e) = &t.extension
            && !self.extensions.contains_key(e)
        {
            return Err(format!(
                "{key}.extension: '{e}' is not an extension of this tenant"
            ));
        }
        if let Some(q) = &t.queue
            && !self.queues.contains_key(q)
        {
            return Err(format!("{key}.queue: '{q}' is not a queue of this tenant"));
        }
        if let Some(g) = &t.ring_group
            && !self.ring_groups.contains_key(g)
        {
            return Err(format!(
                "{key}.ring_group: '{g}' is not a ring group of this tenant"
            ));
        }
        Ok(())
    }

    fn check_line(&self, key: &str, line: &str) -> Result<(), String> {
        if self.outside_lines.contains_key(line) {
            Ok(())
        } else {
            Err(format!(
                "{key}: '{line}' is not an outside line of this tenant (add it under [outside_lines])"
            ))
        }
    }

    /// Checks every reference; the error starts with the key path at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.realm.is_empty() || self.realm.contains('"') {
            return Err(format!("realm: '{}' is empty or holds '\"'", self.realm));
        }
        if self.sip.auth_algorithms.is_empty() {
            return Err("sip.auth_algorithms: give at least one of \"MD5\", \"SHA-256\"".into());
        }
        for a in &self.sip.auth_algorithms {
            if crate::registrar::Offer::parse(a).is_none() {
                return Err(format!(
                    "sip.auth_algorithms: '{a}' is not supported (use \"MD5\", \"SHA-256\" or \"SHA256\")"
                ));
            }
        }
        if self.sip.ring_timeout_ms == 0 {
            return Err("sip.ring_timeout_ms: must be above 0".into());
        }
        self.sip.session_timer().check("sip.session_expires")?;
        if let Some(line) = &self.sip.default_caller_id {
            self.check_line("sip.default_caller_id", line)?;
        }
        for (number, ext) in &self.extensions {
            if !is_extension_number(number) {
                return Err(format!(
                    "extensions.{number}: an extension number is {} to {} digits and does not start with 0 \
                     (0 is the outside-line access digit; softphones tell internal calls by this form)",
                    EXTENSION_DIGITS.start(),
                    EXTENSION_DIGITS.end()
                ));
            }
            if ext.password.is_empty() {
                return Err(format!("extensions.{number}.password: is empty"));
            }
            if let Some(line) = &ext.caller_id {
                self.check_line(&format!("extensions.{number}.caller_id"), line)?;
            }
        }
        for (number, line) in &self.outside_lines {
            if !is_number(number) {
                return Err(format!(
                    "outside_lines.{number}: an outside line is digits (optionally after '+')"
                ));
            }
            if self.extensions.contains_key(number) {
                return Err(format!(
                    "outside_lines.{number}: the number is also an extension"
                ));
            }
            self.check_target(&format!("outside_lines.{number}"), &line.target())?;
        }
        for (name, group) in &self.ring_groups {
            if group.extensions.is_empty() {
                return Err(format!("ring_groups.{name}.extensions: is empty"));
            }
            for e in &group.extensions {
                if !self.extensions.contains_key(e) {
                    return Err(format!(
                        "ring_groups.{name}.extensions: '{e}' is not an extension of this tenant"
                    ));
                }
            }
            if group.ring_timeout_ms == 0 {
                return Err(format!(
                    "ring_groups.{name}.ring_timeout_ms: must be above 0"
                ));
            }
        }
        for (id, op) in &self.operators {
            if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control()) {
                return Err(format!(
                    "operators.{id}: a login ID is 1 to 64 printable characters"
                ));
            }
            if op.password.is_empty() {
                return Err(format!("operators.{id}.password: is empty"));
            }
        }
        for (name, q) in &self.queues {
            for m in &q.members {
                if !self.operators.contains_key(m) {
                    return Err(format!(
                        "queues.{name}.members: '{m}' is not an operator of this tenant"
                    ));
                }
            }
            if q.offer_timeout_ms == 0 || q.timeout_ms == 0 {
                return Err(format!(
                    "queues.{name}: offer_timeout_ms and timeout_ms must be above 0"
                ));
            }
            if let Some(o) = &q.overflow {
                self.check_target(&format!("queues.{name}.overflow"), o)?;
                if o.queue.as_deref() == Some(name.as_str()) {
                    return Err(format!(
                        "queues.{name}.overflow.queue: a queue cannot overflow into itself"
                    ));
                }
            }
        }
        for (name, c) in &self.campaigns {
            if !self.queues.contains_key(&c.queue) {
                return Err(format!(
                    "campaigns.{name}.queue: '{}' is not a queue of this tenant",
                    c.queue
                ));
            }
            for n in &c.numbers {
                if !is_number(n) {
                    return Err(format!(
                        "campaigns.{name}.numbers: '{n}' is not a phone number"
                    ));
                }
            }
            if !(c.initial_ratio >= 1.0 && c.max_ratio >= c.initial_ratio && c.max_ratio <= 20.0) {
                return Err(format!(
                    "campaigns.{name}: need 1 <= initial_ratio <= max_ratio <= 20 (got {} and {})",
                    c.initial_ratio, c.max_ratio
                ));
            }
            if !(0.0..=1.0).contains(&c.abandon_target) {
                return Err(format!(
                    "campaigns.{name}.abandon_target: {} is not a rate between 0 and 1",
                    c.abandon_target
                ));
            }
            if c.abandon_after_ms == 0 || c.ring_timeout_ms == 0 {
                return Err(format!(
                    "campaigns.{name}: abandon_after_ms and ring_timeout_ms must be above 0"
                ));
            }
            if let Some(line) = &c.caller_id {
                self.check_line(&format!("campaigns.{name}.caller_id"), line)?;
            }
        }
        for (prefix, line) in &self.caller_id_prefixes {
            if prefix.is_empty()
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
            {
                return Err(format!(
                    "caller_id_prefixes.{prefix}: a prefix is digits, '*' and '#'"
                ));
            }
            if self.extensions.contains_key(prefix) {
                return Err(format!(
                    "caller_id_prefixes.{prefix}: the prefix is also an extension"
                ));
            }
            self.check_line(&format!("caller_id_prefixes.{prefix}"), line)?;
        }
        for (i, p) in self.parties.iter().enumerate() {
            if p.number.as_deref().is_none_or(str::is_empty) {
                return Err(format!(
                    "parties[{i}].number: every rule needs a number pattern (e.g. \"0120*\")"
                ));
            }
            p.check().map_err(|e| format!("parties[{i}].{e}"))?;
        }
        self.default_party
            .check()
            .map_err(|e| format!("default_party.{e}"))?;
        Ok(())
    }

    /// The outside line shown on `ext`'s outgoing calls.
    pub fn caller_id_of(&self, ext: &str) -> Option<&str> {
        self.extensions
            .get(ext)
            .and_then(|e| e.caller_id.as_deref())
            .or(self.sip.default_caller_id.as_deref())
    }

    /// The script for an outside party with `number`.
    pub fn party_script(&self, number: &str) -> &PartyScript {
        self.parties
            .iter()
            .find(|p| {
                p.number
                    .as_deref()
                    .is_some_and(|pat| crate::party::glob_match(pat, number))
            })
            .unwrap_or(&self.default_party)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_round_trips_through_toml_and_is_valid() {
        let t = Tenant::builtin();
        t.validate().expect("the built-in tenant is consistent");
        assert_eq!(Tenant::from_toml(&t.to_toml(), "x").expect("parses"), t);
    }

    #[test]
    fn builtin_keeps_the_original_lines_and_passwords() {
        let t = Tenant::builtin();
        for ext in ["1910", "1911", "1912", "1303", "1330"] {
            assert_eq!(t.extensions[ext].password, format!("pw{ext}"));
        }
        assert_eq!(
            t.outside_lines["0312345678"].target().route(),
            Some(Route::Extension("1910".into()))
        );
        assert_eq!(
            t.outside_lines["0312345679"].target().route(),
            Some(Route::Extension("1911".into()))
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Tenant::from_toml("[extensions.1910]\npasword = \"x\"\n", "t.toml")
            .expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("t.toml") && msg.contains("pasword"), "{msg}");
        let err = Tenant::from_toml("[queues.q]\nstrategy = \"random\"\n", "t.toml")
            .expect_err("refused");
        assert!(err.to_string().contains("random"), "{err}");
    }

    #[test]
    fn inconsistent_references_name_the_key() {
        let cases = [
            (
                "[outside_lines.0312]\nextension = \"9\"\n",
                "outside_lines.0312.extension: '9'",
            ),
            (
                "[outside_lines.0312]\nqueue = \"nope\"\n",
                "outside_lines.0312.queue: 'nope'",
            ),
            (
                "[extensions.10]\npassword=\"p\"\n[outside_lines.0312]\nextension = \"10\"\nqueue=\"q\"\n",
                "outside_lines.0312: give exactly one",
            ),
            (
                "[queues.q]\nmembers = [\"ghost\"]\n",
                "queues.q.members: 'ghost'",
            ),
            (
                "[queues.q]\noverflow = { queue = \"q\" }\n",
                "queues.q.overflow.queue: a queue cannot overflow into itself",
            ),
            (
                "[queues.q]\n[campaigns.c]\nqueue = \"q\"\nnumbers = [\"08x\"]\n",
                "campaigns.c.numbers: '08x'",
            ),
            (
                "[campaigns.c]\nqueue = \"none\"\nnumbers = []\n",
                "campaigns.c.queue: 'none'",
            ),
            (
                "[caller_id_prefixes]\n\"7001\" = \"0399\"\n",
                "caller_id_prefixes.7001: '0399' is not an outside line",
            ),
            (
                "[sip]\nauth_algorithms = [\"SHA-512\"]\n",
                "sip.auth_algorithms: 'SHA-512'",
            ),
            ("[[parties]]\nanswer_after_ms = 1\n", "parties[0].number"),
            (
                "[[parties]]\nnumber = \"1*\"\nplay = \"mp3:x\"\n",
                "parties[0].play",
            ),
            (
                "[ring_groups.g]\nextensions = [\"1\"]\n",
                "ring_groups.g.extensions: '1'",
            ),
            (
                "[sip]\nsession_expires = 30\n",
                "sip.session_expires: 30 s is not 0 (off) or 90..86400 s",
            ),
            ("[sip]\nsession_refresh = \"sometimes\"\n", "sometimes"),
            (
                "[extensions.0101]\npassword = \"p\"\n",
                "extensions.0101: an extension number is 2 to 8 digits and does not start with 0",
            ),
            (
                "[extensions.7]\npassword = \"p\"\n",
                "extensions.7: an extension number is 2 to 8 digits",
            ),
            (
                "[extensions.123456789]\npassword = \"p\"\n",
                "extensions.123456789: an extension number is 2 to 8 digits",
            ),
            (
                "[extensions.\"19a0\"]\npassword = \"p\"\n",
                "extensions.19a0: an extension number is 2 to 8 digits",
            ),
        ];
        for (text, want) in cases {
            let err = Tenant::from_toml(text, "t.toml").expect_err(text);
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn extension_numbers_follow_the_numbering_plan() {
        for ok in ["10", "1910", "200100", "12345678"] {
            assert!(is_extension_number(ok), "{ok}");
            let text = format!("[extensions.{ok}]\npassword = \"p\"\n");
            Tenant::from_toml(&text, "t.toml").expect(ok);
        }
        for bad in [
            "",
            "1",
            "0",
            "0101",
            "123456789",
            "+1910",
            "19a0",
            "１９１０",
        ] {
            assert!(!is_extension_number(bad), "{bad}");
        }
    }

    #[test]
    fn party_rules_match_in_order_with_a_default() {
        let t = Tenant::builtin();
        assert_eq!(t.party_script("0120486001").reject, Some(486));
        assert_eq!(t.party_script("09099999999"), &t.default_party);
    }
}
