//! The settings file: raw TOML → validated [`Settings`], once, at load (and at
//! save, from the window). A ring never meets a bad template: everything a
//! hook needs is parsed here.
//!
//! Every error names the file, the key and the value, and says how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The settings file as written (user-facing names; see `fixtures/config/example.toml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// SIP account on the BlueBean server.
    pub account: Account,
    /// BlueBean operator login (`%OpId%` / `%OpPW%`).
    #[serde(default)]
    pub operator: Operator,
    /// Web integration.
    #[serde(default)]
    pub web: Web,
    /// Command integration.
    #[serde(default)]
    pub command: Command,
    /// SIP protocol tuning (rarely needed).
    #[serde(default)]
    pub sip: Sip,
    /// Sound devices, codecs and test files.
    #[serde(default)]
    pub audio: Audio,
    /// Where the call history is kept (CALL-3).
    #[serde(default)]
    pub history: HistorySection,
    /// How incoming calls are taken (auto-answer).
    #[serde(default, skip_serializing_if = "CallSection::is_default")]
    pub call: CallSection,
    /// How the server's certificate is checked (`transport = "tls"`).
    #[serde(default, skip_serializing_if = "TlsSection::is_default")]
    pub tls: TlsSection,
}

/// `[tls]`: how the server's certificate is checked when
/// `[account] transport = "tls"`. The system's trust store always counts.
///
/// ```toml
/// [tls]
/// server_name = "pbx.example.jp"   # the name the certificate must carry (and SNI); default: server's host
/// ca_file = "pbx-ca.pem"           # a private PBX's CA (PEM), relative to this file
/// pin_sha256 = "3d92…"             # accept this one certificate only (SHA-256 of its DER)
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The name the server's certificate must carry (and the SNI); by
    /// default the host of `[account] server` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// A CA certificate file (PEM) trusted besides the system's, for a
    /// private PBX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The SHA-256 (hex) of the server's certificate: when set, that
    /// certificate alone is accepted, whoever signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_sha256: Option<String>,
}

impl TlsSection {
    fn is_default(&self) -> bool {
        *self == TlsSection::default()
    }
}

/// `[call]`: how incoming calls are taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CallSection {
    /// `"off"` (the default), `"always"`, or `"server"`: when the INVITE
    /// asks for it (`Call-Info: …;answer-after=N`, `Alert-Info:
    /// …;info=alert-autoanswer`, `Answer-Mode: Auto`), as ACD queues and
    /// predictive campaigns do. Never while another call is connected.
    #[serde(default)]
    pub auto_answer: String,
    /// Wait this long before answering by itself (a server's longer
    /// `answer-after` wins).
    #[serde(default)]
    pub auto_answer_delay_ms: u64,
    /// What a call gets under do not disturb (`bbclient dnd on`): 486
    /// (Busy Here, the default), 480 (Temporarily Unavailable) or 603
    /// (Decline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd_status: Option<u16>,
}

impl CallSection {
    fn is_default(&self) -> bool {
        *self == CallSection::default()
    }
}

/// `[history]`: the call history (CALL-3), recorded by the running
/// softphone, read by the window.
///
/// ```toml
/// [history]
/// enabled = true
/// path = ""      # "" = $XDG_DATA_HOME/bbclient/history.sqlite3 (history-NAME.sqlite3 for --instance NAME)
/// ```
///
/// `$BBCLIENT_HISTORY` overrides both the default and `path`. A relative
/// `path` is taken from the settings file's directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// Record calls at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The SQLite file; empty for the default in the user's data directory.
    #[serde(default)]
    pub path: String,
}

impl Default for HistorySection {
    fn default() -> Self {
        HistorySection {
            enabled: true,
            path: String::new(),
        }
    }
}

/// `[audio]`: where the call's sound comes from and goes to, and how it is
/// coded.
///
/// ```toml
/// [audio]
/// input_device = ""          # "" = the system default, "null" = silence, else a device name
/// output_device = ""         # "" = the system default, "null" = discard, else a device name
/// fallback = "null"          # a missing device: "null" (warn, calls are silent) or "error" (refuse to start)
/// codecs = ["opus", "PCMU", "PCMA"]   # offer/answer preference order
/// ptime_ms = 20              # 10 or 20 ms per packet
/// dtmf = true                # offer RFC 4733 telephone-events
/// input_wav = ""             # play this WAV (looping) instead of the microphone
/// output_wav = ""            # record what we hear to this WAV instead of the speaker
///
/// [audio.opus]
/// bitrate = 24000            # bit/s, 6000..510000
/// fec = true                 # in-band forward error correction
/// dtx = false                # discontinuous transmission
/// max_playback_rate = 48000  # 8000, 16000 or 48000
/// ```
///
/// Relative WAV paths are read from the settings file's directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Audio {
    /// Capture device: empty for the system default, `null` for silence,
    /// else a device name (as logged when the configured one is missing).
    #[serde(default)]
    pub input_device: String,
    /// Playback device: empty for the system default, `null` to discard.
    #[serde(default)]
    pub output_device: String,
    /// What a missing device does: `null` or `error`.
    #[serde(default = "default_fallback")]
    pub fallback: String,
    /// Codec preference order: `opus`, `PCMU`, `PCMA`.
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    /// Packetisation time in ms: 10 or 20.
    #[serde(default = "default_ptime")]
    pub ptime_ms: u32,
    /// Offer and accept RFC 4733 telephone-events.
    #[serde(default = "yes")]
    pub dtmf: bool,
    /// A WAV file played (looping) as our voice instead of the microphone.
    #[serde(default)]
    pub input_wav: String,
    /// A WAV file that records what we hear instead of the speaker.
    #[serde(default)]
    pub output_wav: String,
    /// Opus settings.
    #[serde(default)]
    pub opus: OpusOptions,
    /// Ring out loud when a call comes in.
    #[serde(default = "yes")]
    pub ring: bool,
    /// The device the ringtone plays on: empty for the output device
    /// (when the output is a device), `null`, or a device name — e.g. the
    /// PC's speakers while calls go to the headset.
    #[serde(default)]
    pub ring_device: String,
    /// A WAV file that records the ringtone instead of a device.
    #[serde(default)]
    pub ring_output_wav: String,
    /// The ringtone: empty for the built-in one, else a WAV file.
    #[serde(default)]
    pub ringtone: String,
    /// Ringtone volume, 0 to 100 percent.
    #[serde(default = "default_ring_volume")]
    pub ring_volume: u8,
    /// Microphone volume, 0 to 100 percent.
    #[serde(default = "full_volume")]
    pub input_volume: u8,
    /// Speaker volume, 0 to 100 percent.
    #[serde(default = "full_volume")]
    pub output_volume: u8,
    /// The call-progress tones played when the network sends none
    /// (ringback, busy, call waiting): `jp` (the default), `us` or `eu`.
    #[serde(default = "default_tones")]
    pub tones: String,
    /// SRTP for call audio (SDES keys in the SDP): `off` (the default),
    /// `optional` (encrypt when the peer can) or `required` (no call
    /// without it). Use it with `transport = "tls"`: the keys travel in
    /// the SIP messages.
    #[serde(default = "default_srtp")]
    pub srtp: String,
}

fn default_srtp() -> String {
    "off".into()
}

fn default_ring_volume() -> u8 {
    80
}

fn full_volume() -> u8 {
    100
}

fn default_tones() -> String {
    "jp".to_string()
}

impl Default for Audio {
    fn default() -> Self {
        Audio {
            input_device: String::new(),
            output_device: String::new(),
            fallback: default_fallback(),
            codecs: default_codecs(),
            ptime_ms: default_ptime(),
            dtmf: true,
            input_wav: String::new(),
            output_wav: String::new(),
            opus: OpusOptions::default(),
            ring: true,
            ring_device: String::new(),
            ring_output_wav: String::new(),
            ringtone: String::new(),
            ring_volume: default_ring_volume(),
            input_volume: full_volume(),
            output_volume: full_volume(),
            tones: default_tones(),
            srtp: default_srtp(),
        }
    }
}

fn default_fallback() -> String {
    "null".to_string()
}

fn default_codecs() -> Vec<String> {
    vec!["opus".to_string(), "PCMU".to_string(), "PCMA".to_string()]
}

fn default_ptime() -> u32 {
    20
}

/// `[audio.opus]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpusOptions {
    /// Target bitrate, bit/s.
    #[serde(default = "default_bitrate")]
    pub bitrate: u32,
    /// In-band FEC (we ask for it and send it when the peer asks).
    #[serde(default = "yes")]
    pub fec: bool,
    /// Discontinuous transmission.
    #[serde(default)]
    pub dtx: bool,
    /// Highest sample rate worth sending us: 8000, 16000 or 48000.
    #[serde(default = "default_max_playback_rate")]
    pub max_playback_rate: u32,
}

impl Default for OpusOptions {
    fn default() -> Self {
        OpusOptions {
            bitrate: default_bitrate(),
            fec: true,
            dtx: false,
            max_playback_rate: default_max_playback_rate(),
        }
    }
}

fn default_bitrate() -> u32 {
    24_000
}

fn default_max_playback_rate() -> u32 {
    48_000
}

/// `[sip]`: protocol tuning.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    /// RFC 3261 timer T1 (round-trip estimate) in ms; transactions give up
    /// after 64×T1. Lower it only on fast networks (tests use 20).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// A second incoming call while one is connected: `"ring"` it as a
    /// second line (the operator can hold the first and answer it) or
    /// answer `"busy"` (486 Busy Here).
    #[serde(default, skip_serializing_if = "SecondCall::is_default")]
    pub second_call: SecondCall,
    /// Who may ring the phone (and send it any request outside a call):
    /// `"server"` (the registrar and the outbound proxy, by address),
    /// `"any"`, or a list of addresses and networks.
    #[serde(default, skip_serializing_if = "AcceptCallsFrom::is_default")]
    pub accept_calls_from: AcceptCallsFrom,
    /// Who may move a call with REFER: `"server"`, `"never"` or `"any"`.
    #[serde(default = "server_word", skip_serializing_if = "is_server_word")]
    pub accept_refer: String,
    /// Calls that may ring at once; the next one gets 486 Busy Here.
    #[serde(default = "default_max_ringing")]
    pub max_ringing: u32,
    /// A ringing call that nobody answers or cancels ends after this many
    /// seconds with 480 (0: never).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_s: u64,
    /// A NAT keep-alive towards the next hop every this many seconds: a
    /// double CRLF (RFC 5626 section 4.4.1) on the SIP socket or connection,
    /// so that the NAT between the phone and the server keeps the phone's
    /// binding open and the server's INVITEs reach it (0: none).
    #[serde(default = "default_keepalive")]
    pub keepalive_s: u64,
    /// A STUN server (`host:port`, port 3478 by default) asked from each
    /// call's RTP socket where a NAT maps it, so that the SDP names the
    /// public address and port (none: the SDP names the public address
    /// learned from the registration, with the local port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stun_server: Option<String>,
}

/// pjsip's is 15 s, RFC 5626 suggests 95–120 s for TCP; NATs drop idle UDP
/// bindings after 30 s at worst.
fn default_keepalive() -> u64 {
    25
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            t1_ms: default_t1(),
            second_call: SecondCall::default(),
            accept_calls_from: AcceptCallsFrom::default(),
            accept_refer: server_word(),
            max_ringing: default_max_ringing(),
            ring_timeout_s: default_ring_timeout(),
            keepalive_s: default_keepalive(),
            stun_server: None,
        }
    }
}

/// `[sip] accept_calls_from`: one word or a list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum AcceptCallsFrom {
    /// `"server"` or `"any"`.
    Word(String),
    /// Addresses and networks.
    List(Vec<String>),
}

impl Default for AcceptCallsFrom {
    fn default() -> Self {
        AcceptCallsFrom::Word(server_word())
    }
}

impl AcceptCallsFrom {
    fn is_default(&self) -> bool {
        matches!(self, AcceptCallsFrom::Word(w) if w == "server")
    }

    /// The words, for [`crate::admission::parse_accept_from`].
    pub fn words(&self) -> Vec<String> {
        match self {
            AcceptCallsFrom::Word(w) => vec![w.clone()],
            AcceptCallsFrom::List(l) => l.clone(),
        }
    }
}

fn server_word() -> String {
    "server".into()
}

fn is_server_word(w: &str) -> bool {
    w == "server"
}

fn default_max_ringing() -> u32 {
    4
}

fn default_ring_timeout() -> u64 {
    120
}

/// `[sip] second_call`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SecondCall {
    /// Ring as a second line.
    #[default]
    Ring,
    /// Answer 486 Busy Here.
    Busy,
}

impl SecondCall {
    fn is_default(&self) -> bool {
        *self == SecondCall::Ring
    }
}

fn default_t1() -> u64 {
    500
}

/// `[account]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The BlueBean SIP server, `host:port`.
    pub server: String,
    /// The extension (SIP user).
    pub user: String,
    /// The SIP password.
    #[serde(default)]
    pub password: String,
    /// Local SIP address to bind; by default the address that routes to the
    /// server, on a free port.
    #[serde(default)]
    pub local_addr: Option<String>,
    /// Registration expiry asked for, in seconds.
    #[serde(default = "default_expires")]
    pub expires: u32,
    /// SIP transport to the server: `udp` (default), `tcp` or `tls`
    /// (the server's port defaults to 5061 then).
    #[serde(default = "default_transport")]
    pub transport: String,

    /// Send every request to this proxy (`host:port`) instead of the server.
    #[serde(default)]
    pub outbound_proxy: Option<String>,
}

fn default_transport() -> String {
    "udp".to_string()
}

/// The SIP transport used to reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP (RFC 3261's default).
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP (RFC 3261 section 26.2, `sips:`).
    Tls,
}

impl Transport {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// `[account] transport = "tls"`, validated.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The name the server's certificate must carry (and the SNI).
    pub server_name: String,
    /// CA certificates (DER) trusted besides the system's.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The one server certificate accepted (its SHA-256), when pinned.
    pub pin_sha256: Option<[u8; 32]>,
}

fn default_expires() -> u32 {
    300
}

/// `[operator]`: the BlueBean operator login (ACD-1).
///
/// ```toml
/// [operator]
/// login_id = "op1910"                 # %OpId%, and the default for `bbclient login`
/// password = "..."                    # %OpPW%, and the default for `bbclient login`
/// api_url = "http://127.0.0.1:8080"   # the BlueBean operator API; no default (login is refused without it)
/// timeout_ms = 5000                   # each API request gives up after this long
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Operator login ID (`%OpId%`).
    #[serde(default)]
    pub login_id: String,
    /// Operator password (`%OpPW%`).
    #[serde(default)]
    pub password: String,
    /// Base URL of the BlueBean operator API (`POST {api_url}/api/operators/login`).
    /// Empty: operator login is not available.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_url: String,
    /// Time limit of one operator API request, ms.
    #[serde(default = "default_operator_timeout")]
    pub timeout_ms: u64,
}

impl Default for Operator {
    fn default() -> Self {
        Operator {
            login_id: String::new(),
            password: String::new(),
            api_url: String::new(),
            timeout_ms: default_operator_timeout(),
        }
    }
}

fn default_operator_timeout() -> u64 {
    5000
}

/// `[web]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Web {
    /// Skip web integration for internal (extension-to-extension) calls (WEB-6).
    #[serde(default = "yes")]
    pub skip_internal: bool,
    /// The popup request (WEB-1).
    #[serde(default)]
    pub popup: Option<Popup>,
    /// The detail view (WEB-4), GET only.
    #[serde(default)]
    pub detail: Option<Detail>,
    /// Which redirects of a CRM are followed: `"same-origin"` (the
    /// default), `"any"` (never https → http, never a body to another
    /// origin) or `"none"`.
    #[serde(default = "same_origin", skip_serializing_if = "is_same_origin")]
    pub redirects: String,
    /// Send the popup request when the operator places a call too (beyond
    /// the guide; `%CallerNumber%` is the dialled number). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub popup_on_dial: bool,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            skip_internal: true,
            popup: None,
            detail: None,
            redirects: same_origin(),
            popup_on_dial: false,
        }
    }
}

fn same_origin() -> String {
    "same-origin".into()
}

fn is_same_origin(w: &str) -> bool {
    w == "same-origin"
}

fn yes() -> bool {
    true
}

/// `[web.popup]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Popup {
    /// `GET` or `POST`.
    #[serde(default = "get")]
    pub method: String,
    /// Destination URL.
    pub url: String,
    /// Parameter lines, `name=value` each.
    #[serde(default)]
    pub params: String,
}

fn get() -> String {
    "GET".to_string()
}

/// `[web.detail]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Detail {
    /// The method; only `GET` is accepted (WEB-4).
    #[serde(default = "get")]
    pub method: String,
    /// Detail view URL.
    pub url: String,
    /// Parameter lines.
    #[serde(default)]
    pub params: String,
    /// Open the detail view in the browser as the call rings (WEB-5).
    #[serde(default)]
    pub open_browser_on_ring: bool,
    /// Browser command (program and arguments; the URL is appended). Empty: the OS opener.
    #[serde(default)]
    pub browser: String,
}

/// `[command]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Run when a call rings (CMD-1).
    #[serde(default)]
    pub on_ring: String,
    /// Run when a call is answered (CMD-2).
    #[serde(default)]
    pub on_answer: String,
    /// Run when a call is hung up (CMD-3).
    #[serde(default)]
    pub on_hangup: String,
    /// Run when the operator places a call (beyond the guide; the same
    /// placeholders, `%CallerNumber%` being the dialled number). Off when
    /// empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_dial: String,
    /// Skip command integration for internal calls (CMD-5).
    #[serde(default = "yes")]
    pub skip_internal: bool,
}

impl Default for Command {
    fn default() -> Self {
        Command {
            on_ring: String::new(),
            on_answer: String::new(),
            on_hangup: String::new(),
            on_dial: String::new(),
            skip_internal: true,
        }
    }
}

/// A settings problem, with where it is and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("cannot read settings file '{path}': {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, a wrong type or an unknown key.
    #[error("settings file '{path}': {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message (names the key and line).
        message: String,
    },
    /// Group or others may read or write the file, which holds passwords.
    #[error(
        "settings file '{path}' can be read or written by {who} (mode {mode:04o}); it holds passwords: run `chmod 600 {path}`"
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// "its group", "others" or "its group and others".
        who: &'static str,
        /// Its permission bits.
        mode: u32,
    },
    /// A value is not acceptable.
    #[error("settings file '{path}': {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, dotted (`web.popup.params`).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Settings after validation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What was read (kept for saving back).
    pub raw: RawSettings,
    /// Where it was read from.
    pub path: PathBuf,
    /// The SIP server address.
    pub server: SocketAddr,
    /// The local SIP bind address, when configured.
    pub local_addr: Option<SocketAddr>,
    /// The hook configuration for the CTI engine.
    pub hooks: crate::hooks::HookSettings,
    /// The transport to the server.
    pub transport: Transport,
    /// How the server's certificate is checked (TLS only).
    pub tls: Option<TlsSettings>,
    /// `[sip] stun_server`, resolved.
    pub stun_server: Option<SocketAddr>,
    /// Where requests go first, when not straight to the server.
    pub outbound_proxy: Option<SocketAddr>,
    /// The validated `[audio]` section.
    pub audio: crate::media::AudioSettings,
    /// The operator API's base URL (`[operator] api_url`), when configured.
    pub operator_api: Option<reqwest::Url>,
    /// The operator API's time limit per request.
    pub operator_timeout: std::time::Duration,
    /// `[history] path` resolved against the settings file's directory;
    /// `None` for the default (see [`crate::history::path_for`]).
    pub history_path: Option<PathBuf>,
    /// Who may ring the phone and move a call (`[sip] accept_calls_from`,
    /// `accept_refer`), with the server's addresses.
    pub admission: crate::admission::Admission,
    /// `[call] auto_answer`.
    pub auto_answer: crate::phone::AutoAnswer,
}

/// Refuses a settings file that its group or others may read or write: it
/// holds the SIP and operator passwords. (The window saves it 0600.)
#[cfg(unix)]
pub fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    let who = match (mode & 0o060 != 0, mode & 0o006 != 0) {
        (false, false) => return Ok(()),
        (true, false) => "its group",
        (false, true) => "others",
        (true, true) => "its group and others",
    };
    Err(ConfigError::Exposed {
        path: path.to_path_buf(),
        who,
        mode,
    })
}

/// Elsewhere the file's ACL is the platform's business.
#[cfg(not(unix))]
pub fn check_private(_path: &Path) -> Result<(), ConfigError> {
    Ok(())
}

impl Settings {
    /// Reads and validates a settings file.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::from_toml(&text, path)
    }

    /// Parses and validates settings text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: toml_message(text, &e),
        })?;
        Settings::validate(raw, path)
    }

    /// Validates raw settings.
    pub fn validate(raw: RawSettings, path: &Path) -> Result<Settings, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let (server_text, sips) =
            server_form(&raw.account.server).map_err(|m| invalid("account.server", m))?;
        let transport_text = raw.account.transport.trim().to_ascii_lowercase();
        if sips && transport_text == "tcp" {
            return Err(invalid(
                "account.server",
                format!(
                    "'{}' asks for TLS (sips:) but account.transport is \"tcp\" \
                     (write transport = \"tls\", or the server without sips:)",
                    raw.account.server.trim()
                ),
            ));
        }
        let tls_wanted = sips || transport_text == "tls";
        let server = resolve_default(server_text, if tls_wanted { 5061 } else { 5060 })
            .map_err(|m| invalid("account.server", m))?;
        if raw.account.user.trim().is_empty() {
            return Err(invalid(
                "account.user",
                "is empty (write the extension, e.g. user = \"1910\")".into(),
            ));
        }
        let local_addr = match &raw.account.local_addr {
            None => None,
            Some(s) => Some(s.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "account.local_addr",
                    format!("'{s}' is not an address:port (e.g. \"127.0.0.1:0\")"),
                )
            })?),
        };
        let transport = match transport_text.as_str() {
            _ if sips => Transport::Tls,
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            other => {
                return Err(invalid(
                    "account.transport",
                    format!("'{other}' is not supported (write \"udp\", \"tcp\" or \"tls\")"),
                ));
            }
        };
        let tls = match transport {
            Transport::Tls => {
                Some(tls_settings(&raw, server_text, path).map_err(|(k, m)| invalid(k, m))?)
            }
            _ => None,
        };
        let outbound_proxy = match &raw.account.outbound_proxy {
            None => None,
            Some(p) if p.trim().is_empty() => None,
            Some(p) => Some(resolve(p).map_err(|m| invalid("account.outbound_proxy", m))?),
        };
        if !(10..=5000).contains(&raw.sip.t1_ms) {
            return Err(invalid(
                "sip.t1_ms",
                format!(
                    "{} is out of range (10 to 5000 ms; the default is 500)",
                    raw.sip.t1_ms
                ),
            ));
        }
        let admission = crate::admission::Admission {
            from: crate::admission::parse_accept_from(&raw.sip.accept_calls_from.words())
                .map_err(|m| invalid("sip.accept_calls_from", m))?,
            refer: crate::admission::parse_accept_refer(&raw.sip.accept_refer)
                .map_err(|m| invalid("sip.accept_refer", m))?,
            server: std::iter::once(server.ip())
                .chain(outbound_proxy.map(|p| p.ip()))
                .collect(),
        };
        let stun_server = match raw.sip.stun_server.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(resolve_default(s, 3478).map_err(|m| invalid("sip.stun_server", m))?),
        };
        if raw.sip.keepalive_s > 3600 {
            return Err(invalid(
                "sip.keepalive_s",
                format!(
                    "{} is out of range (0 to 3600 s; 0 turns the keep-alive off, the default is 25)",
                    raw.sip.keepalive_s
                ),
            ));
        }
        if !(1..=1000).contains(&raw.sip.max_ringing) {
            return Err(invalid(
                "sip.max_ringing",
                format!(
                    "{} is out of range (1 to 1000 calls ringing at once; the default is 4)",
                    raw.sip.max_ringing
                ),
            ));
        }
        if raw.sip.ring_timeout_s > 3600 {
            return Err(invalid(
                "sip.ring_timeout_s",
                format!(
                    "{} is out of range (0 for never, up to 3600 s; the default is 120)",
                    raw.sip.ring_timeout_s
                ),
            ));
        }
        let auto_answer = match raw.call.auto_answer.trim().to_ascii_lowercase().as_str() {
            "" | "off" => crate::phone::AutoAnswer::Off,
            "always" => crate::phone::AutoAnswer::Always,
            "server" => crate::phone::AutoAnswer::Server,
            other => {
                return Err(invalid(
                    "call.auto_answer",
                    format!(
                        "'{other}' is not an auto-answer rule (write \"off\", \"always\" or \"server\")"
                    ),
                ));
            }
        };
        if raw.call.auto_answer_delay_ms > 60_000 {
            return Err(invalid(
                "call.auto_answer_delay_ms",
                format!(
                    "{} is out of range (0 to 60000 ms; the default is 0)",
                    raw.call.auto_answer_delay_ms
                ),
            ));
        }
        if let Some(code) = raw.call.dnd_status
            && !matches!(code, 480 | 486 | 603)
        {
            return Err(invalid(
                "call.dnd_status",
                format!(
                    "{code} is not a status for do not disturb (write 486 Busy Here, 480 Temporarily Unavailable or 603 Decline)"
                ),
            ));
        }
        let hooks = crate::hooks::HookSettings::from_raw(&raw)
            .map_err(|(key, message)| invalid(&key, message))?;
        let audio = crate::media::AudioSettings::from_raw(&raw.audio, path)
            .map_err(|(key, message)| invalid(&key, message))?;
        let operator_api =
            operator_api(&raw.operator.api_url).map_err(|m| invalid("operator.api_url", m))?;
        if !(100..=60_000).contains(&raw.operator.timeout_ms) {
            return Err(invalid(
                "operator.timeout_ms",
                format!(
                    "{} is out of range (100 to 60000 ms; the default is 5000)",
                    raw.operator.timeout_ms
                ),
            ));
        }
        let history_path = match raw.history.path.trim() {
            "" => None,
            p => {
                let p = Path::new(p);
                Some(if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    path.parent().unwrap_or(Path::new("")).join(p)
                })
            }
        };
        Ok(Settings {
            auto_answer,
            admission,
            operator_api,
            operator_timeout: std::time::Duration::from_millis(raw.operator.timeout_ms),
            history_path,
            raw,
            path: path.to_path_buf(),
            server,
            local_addr,
            hooks,
            transport,
            tls,
            stun_server,
            outbound_proxy,
            audio,
        })
    }
}

/// One line from a toml error: `line 5: unknown field `x`, expected …`.
/// On the line of a secret (a password, a token, …) the values the error
/// quotes are left out: a wrongly typed password must not be printed.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map(|t| t.lines().count().max(1))
                .unwrap_or(1);
            let line = if text.get(..span.start).is_some_and(|t| t.ends_with('\n')) {
                line + 1
            } else {
                line
            };
            let source = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
            let key = source.split('=').next().unwrap_or("").trim();
            if bb_cti::redact::is_secret_name(key) || bb_cti::redact::is_secret_name(source) {
                return format!(
                    "line {line}: {} (the value is not shown: it is a secret)",
                    without_quoted(&what)
                );
            }
            format!("line {line}: {what}")
        }
        None => what,
    }
}

/// `invalid type: integer `123`, expected a string` without the quoted
/// parts: `invalid type: integer, expected a string`.
fn without_quoted(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in message.chars() {
        if c == '`' {
            quoted = !quoted;
            continue;
        }
        if !quoted {
            out.push(c);
        }
    }
    out.replace(" ,", ",").replace("  ", " ")
}

/// `[operator] api_url`: empty, or an `http://`/`https://` URL with a host
/// and without query, fragment or credentials.
fn operator_api(text: &str) -> Result<Option<reqwest::Url>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let example =
        "(write the BlueBean server's API address, e.g. api_url = \"http://127.0.0.1:8080\")";
    if !t.contains("://") {
        return Err(format!("'{t}' is not an http:// or https:// URL {example}"));
    }
    let url = reqwest::Url::parse(t).map_err(|e| format!("'{t}' is not a URL: {e} {example}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{t}' is not an http:// or https:// URL {example}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{t}' has no host {example}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "'{t}' has a query or fragment; give the base address only {example}"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "'{}' carries credentials; the operator API takes none in the URL {example}",
            url.host_str().unwrap_or("?")
        ));
    }
    Ok(Some(url))
}

fn resolve(server: &str) -> Result<SocketAddr, String> {
    resolve_default(server, 5060)
}

/// The host of a `host:port` or `host` (IPv6 in brackets or bare).
/// The server as written, without a `sip:` or `sips:` scheme, and whether
/// it was `sips:` (RFC 3261 section 26.2: TLS all the way).
fn server_form(server: &str) -> Result<(&str, bool), String> {
    let s = server.trim();
    let lower = s.to_ascii_lowercase();
    let (rest, sips) = if lower.starts_with("sips:") {
        (&s[5..], true)
    } else if lower.starts_with("sip:") {
        (&s[4..], false)
    } else {
        (s, false)
    };
    if rest.contains(['@', ';', '?', '/']) {
        return Err(format!(
            "'{s}' is not a server: write host[:port], optionally as sips:host[:port] \
             (no user part, parameters or path)"
        ));
    }
    Ok((rest, sips))
}

fn host_of(server: &str) -> &str {
    let s = server.trim();
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.parse::<u16>().is_ok() => h,
        _ => s,
    }
}

/// Reads the TLS settings of `[account]`: the certificate name, the CA
/// file (relative to the settings file), the pin. Errors name the key.
fn tls_settings(
    raw: &RawSettings,
    server: &str,
    path: &Path,
) -> Result<TlsSettings, (&'static str, String)> {
    let t = &raw.tls;
    let server_name = match &t.server_name {
        Some(n) if !n.trim().is_empty() => n.trim().to_string(),
        _ => host_of(server).to_string(),
    };
    if rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err() {
        return Err((
            "tls.server_name",
            format!("'{server_name}' is not a host name or address a certificate can carry"),
        ));
    }
    let mut extra_roots = Vec::new();
    if let Some(file) = t.ca_file.as_deref().filter(|f| !f.trim().is_empty()) {
        let file = path
            .parent()
            .map(|d| d.join(file))
            .unwrap_or_else(|| PathBuf::from(file));
        let pem = std::fs::read(&file).map_err(|e| {
            (
                "tls.ca_file",
                format!("cannot read '{}': {e}", file.display()),
            )
        })?;
        use rustls::pki_types::pem::PemObject as _;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            extra_roots.push(cert.map_err(|e| {
                (
                    "tls.ca_file",
                    format!("'{}' is not a PEM certificate file: {e}", file.display()),
                )
            })?);
        }
        if extra_roots.is_empty() {
            return Err((
                "tls.ca_file",
                format!(
                    "'{}' holds no certificate (write the CA's certificate in PEM, -----BEGIN CERTIFICATE-----)",
                    file.display()
                ),
            ));
        }
    }
    let pin_sha256 = match t.pin_sha256.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(hex) => {
            let clean: String = hex.chars().filter(|c| *c != ':').collect();
            let bytes: Option<Vec<u8>> = (clean.len() == 64)
                .then(|| {
                    (0..32)
                        .map(|i| u8::from_str_radix(clean.get(2 * i..2 * i + 2)?, 16).ok())
                        .collect()
                })
                .flatten();
            match bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                Some(pin) => Some(pin),
                None => {
                    return Err((
                        "tls.pin_sha256",
                        format!(
                            "'{hex}' is not a SHA-256 in hex (64 hex digits, colons allowed; \
                             openssl x509 -noout -fingerprint -sha256 prints it)"
                        ),
                    ));
                }
            }
        }
    };
    Ok(TlsSettings {
        server_name,
        extra_roots,
        pin_sha256,
    })
}

fn resolve_default(server: &str, default_port: u16) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let s = server.trim();
    if s.is_empty() {
        return Err("is empty (write host:port, e.g. server = \"pbx.example.jp:5060\")".into());
    }
    let with_port = if s.parse::<SocketAddr>().is_ok()
        || s.rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_string()
    } else {
        format!("{s}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{s}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{s}' resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[account]\nserver = \"127.0.0.1:5060\"\nuser = \"1910\"\n";

    fn load(extra: &str) -> Result<Settings, ConfigError> {
        Settings::from_toml(&format!("{BASE}{extra}"), Path::new("/etc/bb/s.toml"))
    }

    #[test]
    fn the_nat_keepalive_defaults_to_25_s_and_0_turns_it_off() {
        assert_eq!(load("").expect("valid").raw.sip.keepalive_s, 25);
        assert_eq!(
            load("[sip]\nkeepalive_s = 0\n")
                .expect("valid")
                .raw
                .sip
                .keepalive_s,
            0
        );
        let e = load("[sip]\nkeepalive_s = 86400\n")
            .expect_err("a day is no keep-alive")
            .to_string();
        assert!(
            e.contains("sip.keepalive_s") && e.contains("86400") && e.contains("0 to 3600"),
            "{e}"
        );
    }

    #[test]
    fn a_stun_server_defaults_to_port_3478_and_a_bad_one_is_named() {
        let s = load("[sip]\nstun_server = \"127.0.0.1\"\n").expect("valid");
        assert_eq!(s.stun_server, Some("127.0.0.1:3478".parse().expect("addr")));
        assert_eq!(load("").expect("valid").stun_server, None);
        let e = load("[sip]\nstun_server = \"no such host.invalid\"\n")
            .expect_err("unresolvable")
            .to_string();
        assert!(e.contains("sip.stun_server"), "{e}");
    }

    #[test]
    fn a_sips_server_means_tls_on_5061() {
        let sips = "[account]\nserver = \"sips:127.0.0.1\"\nuser = \"1910\"\n";
        let s = Settings::from_toml(sips, Path::new("/etc/bb/s.toml")).expect("valid");
        assert_eq!((s.transport, s.server.port()), (Transport::Tls, 5061));
        assert_eq!(s.raw.account.server, "sips:127.0.0.1", "kept as written");
        assert_eq!(
            s.tls.as_ref().map(|t| t.server_name.as_str()),
            Some("127.0.0.1")
        );
        let s = Settings::from_toml(
            "[account]\nserver = \"sip:127.0.0.1:5070\"\nuser = \"1910\"\n",
            Path::new("/etc/bb/s.toml"),
        )
        .expect("valid");
        assert_eq!((s.transport, s.server.port()), (Transport::Udp, 5070));
        for (bad, says) in [
            ("sips:127.0.0.1\"\ntransport = \"tcp", "asks for TLS"),
            ("sips:1910@127.0.0.1", "no user part"),
        ] {
            let e = Settings::from_toml(
                &format!("[account]\nserver = \"{bad}\"\nuser = \"1910\"\n"),
                Path::new("/etc/bb/s.toml"),
            )
            .expect_err(bad)
            .to_string();
            assert!(e.contains("account.server") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn tls_takes_port_5061_and_its_settings_are_checked() {
        let s = load("transport = \"tls\"\n").expect("valid");
        assert_eq!(s.transport, Transport::Tls);
        let base = "[account]\nserver = \"127.0.0.1\"\nuser = \"1910\"\ntransport = \"tls\"\n";
        let s = Settings::from_toml(base, Path::new("/etc/bb/s.toml")).expect("valid");
        assert_eq!(s.server.port(), 5061);
        assert_eq!(
            s.tls.as_ref().map(|t| t.server_name.as_str()),
            Some("127.0.0.1")
        );
        let bad_pin = format!("{base}[tls]\npin_sha256 = \"abc\"\n");
        let e = Settings::from_toml(&bad_pin, Path::new("/etc/bb/s.toml"))
            .expect_err("not a SHA-256")
            .to_string();
        assert!(
            e.contains("tls.pin_sha256") && e.contains("64 hex digits"),
            "{e}"
        );
        let no_ca = format!("{base}[tls]\nca_file = \"missing-ca.pem\"\n");
        let e = Settings::from_toml(&no_ca, Path::new("/etc/bb/s.toml"))
            .expect_err("no such file")
            .to_string();
        assert!(
            e.contains("tls.ca_file") && e.contains("missing-ca.pem"),
            "{e}"
        );
    }

    #[test]
    fn a_second_call_rings_unless_busy_is_asked_for() {
        assert_eq!(
            load("").expect("valid").raw.sip.second_call,
            SecondCall::Ring
        );
        let s = load("[sip]\nsecond_call = \"busy\"\n").expect("valid");
        assert_eq!(s.raw.sip.second_call, SecondCall::Busy);
        let e = load("[sip]\nsecond_call = \"queue\"\n")
            .expect_err("unknown value")
            .to_string();
        assert!(e.contains("queue") && e.contains("ring"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_password_is_not_printed() {
        let e = load("password = 98765432\n")
            .expect_err("a number")
            .to_string();
        assert!(!e.contains("98765432"), "{e}");
        assert!(e.contains("line 4") && e.contains("not shown"), "{e}");
        let e = load("[operator]\npassword = [\"hunter2-secret\"]\n")
            .expect_err("a list")
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        // Other keys still say what they read.
        let e = load("[sip]\nt1_ms = \"fast\"\n")
            .expect_err("a string")
            .to_string();
        assert!(e.contains("fast"), "{e}");
    }

    #[test]
    fn who_may_ring_and_refer_is_the_server_by_default() {
        let s = load("").expect("valid");
        assert_eq!(s.admission.from, crate::admission::AcceptFrom::Server);
        assert_eq!(s.admission.refer, crate::admission::AcceptRefer::Server);
        assert_eq!(
            s.admission.server,
            vec![std::net::IpAddr::from([127, 0, 0, 1])]
        );
        let s = load("[sip]\naccept_calls_from = [\"10.0.0.0/8\"]\naccept_refer = \"never\"\n")
            .expect("valid");
        assert!(matches!(
            s.admission.from,
            crate::admission::AcceptFrom::List(_)
        ));
        let e = load("[sip]\naccept_calls_from = \"everyone\"\n")
            .expect_err("unknown")
            .to_string();
        assert!(
            e.contains("sip.accept_calls_from") && e.contains("everyone"),
            "{e}"
        );
        let e = load("[sip]\nmax_ringing = 0\n")
            .expect_err("zero")
            .to_string();
        assert!(e.contains("sip.max_ringing"), "{e}");
        let e = load("[web]\nredirects = \"all\"\n")
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("web.redirects"), "{e}");
    }

    #[test]
    fn operator_api_is_optional_and_checked() {
        let s = load("").expect("valid");
        assert_eq!(s.operator_api, None);
        assert_eq!(s.operator_timeout, std::time::Duration::from_secs(5));
        let s = load("[operator]\napi_url = \"http://127.0.0.1:8080\"\ntimeout_ms = 300\n")
            .expect("valid");
        assert_eq!(
            s.operator_api.map(|u| u.to_string()).as_deref(),
            Some("http://127.0.0.1:8080/")
        );
        assert_eq!(s.operator_timeout, std::time::Duration::from_millis(300));
        for (url, what) in [
            ("ftp://x", "is not an http:// or https:// URL"),
            ("127.0.0.1:8080", "is not an http:// or https:// URL"),
            ("http://", "is not a URL"),
            ("http://h/?a=1", "has a query or fragment"),
            ("http://u:secret@h/", "carries credentials"),
        ] {
            let e = load(&format!("[operator]\napi_url = \"{url}\"\n"))
                .expect_err(url)
                .to_string();
            assert!(
                e.starts_with("settings file '/etc/bb/s.toml': operator.api_url: "),
                "{e}"
            );
            assert!(e.contains(what), "{url}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
        let e = load("[operator]\ntimeout_ms = 5\n")
            .expect_err("range")
            .to_string();
        assert!(e.contains("operator.timeout_ms: 5 is out of range"), "{e}");
    }

    #[test]
    fn history_path_is_taken_from_the_settings_directory() {
        let s = load("").expect("valid");
        assert!(s.raw.history.enabled);
        assert_eq!(s.history_path, None);
        let s = load("[history]\npath = \"calls.sqlite3\"\n").expect("valid");
        assert_eq!(s.history_path, Some(PathBuf::from("/etc/bb/calls.sqlite3")));
        let s = load("[history]\npath = \"/var/h.sqlite3\"\nenabled = false\n").expect("valid");
        assert_eq!(s.history_path, Some(PathBuf::from("/var/h.sqlite3")));
        assert!(!s.raw.history.enabled);
        assert!(load("[history]\nfile = \"x\"\n").is_err());
    }
}
