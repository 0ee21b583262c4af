//! The runtime of simulated outside parties: one tokio task per party that
//! owns its RTP socket, runs its [`PartyPlan`] timeline and its
//! [`MediaEngine`], and reports to the core (`leg_ringing`, `leg_answered`,
//! `leg_failed`, `leg_ended`, `reinvite_done`).
//!
//! Which script a party follows: for a called party, the first matching rule
//! added over the API (`POST /api/parties`), then the tenant's `[[parties]]`,
//! then `default_party`; for a calling party, the script given with
//! `POST /api/calls`, else the same rules by its own number.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bb_sip::sdp::Direction;
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::media::{MediaEngine, MediaStats, Remote, party_sdp, read_wav};
use crate::party::{PartyAction, PartyPlan, PartyScript, Play};
use crate::pbx::{Action, CallView, LegId, PlaceError, ReqId};
use crate::sdp_util;
use crate::state::{SimState, lock};
use bb_media::srtp::SrtpKeys;
use bb_sip::sdes::StreamKeys;
use bb_sip::sdp::AudioSdp;

/// Ended parties kept for the API (their recordings included).
pub const KEEP_ENDED_PARTIES: usize = 500;

/// A party as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PartyView {
    /// The leg.
    pub leg: LegId,
    /// The party's own number.
    pub number: String,
    /// `caller` (it called an outside line) or `called`.
    pub role: &'static str,
    /// What was dialled to reach it (called), or the line it called (caller).
    pub dialled: String,
    /// The caller ID it was shown (called parties).
    pub caller_id_received: Option<String>,
    /// `calling`, `ringing`, `early_media` (183 sent, early media playing),
    /// `answered` or `ended`.
    pub state: String,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Its RTP address.
    pub rtp: SocketAddr,
    /// What it plays.
    pub play: String,
    /// Media counters.
    pub media: MediaStats,
    /// The dominant tone in the last second it heard (Hz).
    pub tone_hz: Option<f32>,
    /// That tone's share of the energy (0..1).
    pub tone_share: Option<f32>,
}

struct PartyInfo {
    number: String,
    role: &'static str,
    dialled: String,
    caller_id: Option<String>,
    state: String,
    end_reason: Option<String>,
    rtp: SocketAddr,
    script: PartyScript,
    engine: MediaEngine,
    /// The SRTP keys our SDP announces and what SDES agreed.
    keys: StreamKeys,
}

impl PartyInfo {
    /// Puts what SDES agreed (or plain RTP) into the media.
    fn use_keys(&mut self) -> Result<(), String> {
        let keys = self
            .keys
            .agreed
            .as_ref()
            .map(|a| SrtpKeys::from_sdes(a.suite, a.local.octets(), a.remote.octets()))
            .transpose()
            .map_err(|e| e.to_string())?;
        self.engine
            .set_srtp(keys.as_ref())
            .map_err(|e| e.to_string())
    }

    /// Answers the keys of an offer (the first one or a re-INVITE's);
    /// `srtp_rekey`: a fresh key of ours in every answer.
    fn answer_keys(&mut self, offer: &AudioSdp) -> Result<(), String> {
        let policy = self.script.srtp_policy();
        let keep_ours = !self.script.srtp_rekey;
        self.keys
            .answer(policy, &offer.crypto, offer.secure, keep_ours)
            .map_err(|e| e.to_string())?;
        self.use_keys()
    }

    /// Reads the keys of the answer to our offer.
    fn take_answer(&mut self, answer: &AudioSdp) -> Result<(), String> {
        self.keys
            .take_answer(self.script.srtp_policy(), &answer.crypto)
            .map_err(|e| e.to_string())?;
        self.use_keys()
    }
}

enum Cmd {
    Ringing,
    Answered(Option<Vec<u8>>),
    Rejected(u16),
    Ended(String),
    ReInvite(ReqId, Vec<u8>),
    Dtmf(String),
    Answer,
    Hangup,
}

/// Every simulated party of a simulator.
#[derive(Default)]
pub struct Parties {
    live: Mutex<HashMap<LegId, mpsc::UnboundedSender<Cmd>>>,
    info: Mutex<BTreeMap<LegId, Arc<Mutex<PartyInfo>>>>,
    ended: Mutex<VecDeque<LegId>>,
    rules: Mutex<Vec<PartyScript>>,
}

/// Why a party command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartyError {
    /// No live party on that call.
    #[error("call {0} has no live simulated party")]
    NoParty(u64),
    /// The RTP socket could not be opened.
    #[error("cannot open an RTP port: {0}")]
    Rtp(String),
}

fn bind_rtp(ip: std::net::IpAddr) -> Result<UdpSocket, String> {
    let std_sock = std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| e.to_string())?;
    std_sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    UdpSocket::from_std(std_sock).map_err(|e| e.to_string())
}

fn wav_samples(script: &PartyScript) -> (Play, Vec<i16>, Option<String>) {
    play_samples(script.play())
}

/// What a parsed `play` (or `early_play`) sends: the WAV file read, or
/// silence and the problem when it cannot be.
fn play_samples(play: Result<Play, String>) -> (Play, Vec<i16>, Option<String>) {
    match play {
        Ok(Play::Wav(path)) => match read_wav(&path) {
            Ok(s) => (Play::Wav(path), s, None),
            Err(e) => (Play::Silence, Vec::new(), Some(e)),
        },
        Ok(p) => (p, Vec::new(), None),
        Err(e) => (Play::Silence, Vec::new(), Some(e)),
    }
}

impl Parties {
    /// Whether `leg` is (or was) a simulated party.
    pub fn has(&self, leg: LegId) -> bool {
        lock(&self.info).contains_key(&leg)
    }

    /// The script for a party with `number`.
    pub fn script_for(&self, sim: &SimState, number: &str) -> PartyScript {
        let rules = lock(&self.rules);
        rules
            .iter()
            .find(|r| {
                r.number
                    .as_deref()
                    .is_some_and(|p| crate::party::glob_match(p, number))
            })
            .cloned()
            .unwrap_or_else(|| sim.tenant.party_script(number).clone())
    }

    /// Adds a rule in front of the others.
    pub fn add_rule(&self, rule: PartyScript) {
        lock(&self.rules).insert(0, rule);
    }

    /// The rules added over the API.
    pub fn rules(&self) -> Vec<PartyScript> {
        lock(&self.rules).clone()
    }

    /// Forgets the rules added over the API.
    pub fn clear_rules(&self) {
        lock(&self.rules).clear();
    }

    fn register(
        &self,
        leg: LegId,
        info: PartyInfo,
    ) -> (Arc<Mutex<PartyInfo>>, mpsc::UnboundedReceiver<Cmd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let info = Arc::new(Mutex::new(info));
        lock(&self.live).insert(leg, tx);
        lock(&self.info).insert(leg, info.clone());
        (info, rx)
    }

    fn finished(&self, leg: LegId) {
        lock(&self.live).remove(&leg);
        let mut ended = lock(&self.ended);
        ended.push_back(leg);
        while ended.len() > KEEP_ENDED_PARTIES {
            if let Some(old) = ended.pop_front() {
                lock(&self.info).remove(&old);
            }
        }
    }

    fn send(&self, leg: LegId, cmd: Cmd) -> bool {
        lock(&self.live)
            .get(&leg)
            .is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// A simulated caller `from` calls the outside line `to`.
    pub fn place(
        &self,
        sim: &Arc<SimState>,
        from: &str,
        to: &str,
        script: Option<PartyScript>,
    ) -> Result<CallView, PlaceOrRtp> {
        self.place_as(sim, from, to, script, None)
    }

    /// Like [`Parties::place`], the caller presenting `identity` (raw
    /// From/P-Asserted-Identity) to the extensions it rings.
    pub fn place_as(
        &self,
        sim: &Arc<SimState>,
        from: &str,
        to: &str,
        script: Option<PartyScript>,
        identity: Option<crate::pbx::CallerIdentity>,
    ) -> Result<CallView, PlaceOrRtp> {
        let script = script.unwrap_or_else(|| self.script_for(sim, from));
        let ip = sim
            .sip()
            .map(|s| s.local.ip())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let sock = bind_rtp(ip).map_err(PlaceOrRtp::Rtp)?;
        let rtp = sock
            .local_addr()
            .map_err(|e| PlaceOrRtp::Rtp(e.to_string()))?;
        let keys = StreamKeys::offering(script.srtp_policy());
        let offer = party_sdp(
            rtp,
            &script.codec,
            Direction::SendRecv,
            &keys,
            rand::random::<u32>().into(),
            1,
        );
        let (placed, actions) =
            sim.with_deferred(|p, now| p.place_call_as(from, to, Some(offer), identity, now));
        let (call, leg) = placed.map_err(PlaceOrRtp::Place)?;
        self.spawn(
            sim, leg, sock, rtp, script, keys, "caller", from, to, None, None,
        );
        sim.execute(actions);
        sim.read(|p, _| p.call(call))
            .ok_or_else(|| PlaceOrRtp::Rtp("the call vanished".into()))
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &self,
        sim: &Arc<SimState>,
        leg: LegId,
        sock: UdpSocket,
        rtp: SocketAddr,
        script: PartyScript,
        keys: StreamKeys,
        role: &'static str,
        number: &str,
        dialled: &str,
        caller_id: Option<String>,
        offer: Option<Vec<u8>>,
    ) {
        let (play, wav, problem) = wav_samples(&script);
        if let Some(p) = problem {
            sim.event(
                "party_media_problem",
                None,
                serde_json::json!({"leg": leg, "problem": p}),
            );
        }
        let mut engine = MediaEngine::new(play, wav, script.record, rand::random());
        if let Some(o) = &offer {
            engine.set_remote(Remote::from_sdp(o));
        }
        let mut party = PartyInfo {
            number: number.to_string(),
            role,
            dialled: dialled.to_string(),
            caller_id,
            state: "calling".into(),
            end_reason: None,
            rtp,
            script: script.clone(),
            engine,
            keys,
        };
        // A called party decides on the offer's SRTP keys at once: a call
        // it cannot take (its `srtp` says no) is refused with 488.
        if let Some(offer) = offer.as_deref().and_then(|o| AudioSdp::parse(o).ok())
            && let Err(why) = party.answer_keys(&offer)
        {
            sim.event(
                "party_srtp_refused",
                None,
                serde_json::json!({"leg": leg, "number": number, "reason": why}),
            );
            let sim = sim.clone();
            tokio::spawn(async move {
                sim.with(|p, now| p.leg_failed(leg, 488, now));
            });
            return;
        }
        let (info, rx) = self.register(leg, party);
        tokio::spawn(run(
            sim.clone(),
            leg,
            sock,
            info,
            rx,
            script,
            role == "called",
            offer,
        ));
    }

    /// Performs one action of the core on a party leg.
    pub fn execute(&self, sim: &Arc<SimState>, action: Action) {
        match action {
            Action::CallParty {
                leg,
                number,
                caller_id,
                body,
            } => {
                let script = self.script_for(sim, &number);
                let ip = sim
                    .sip()
                    .map(|s| s.local.ip())
                    .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
                match bind_rtp(ip)
                    .and_then(|s| s.local_addr().map(|a| (s, a)).map_err(|e| e.to_string()))
                {
                    Ok((sock, rtp)) => {
                        self.spawn(
                            sim,
                            leg,
                            sock,
                            rtp,
                            script,
                            StreamKeys::default(),
                            "called",
                            &number,
                            &number,
                            Some(caller_id),
                            body,
                        );
                    }
                    Err(e) => {
                        tracing::warn!(leg, error = %e, "cannot open an RTP port for a party");
                        let sim = sim.clone();
                        tokio::spawn(async move {
                            sim.with(|p, now| p.leg_failed(leg, 503, now));
                        });
                    }
                }
            }
            Action::Ring { leg, .. } => {
                self.send(leg, Cmd::Ringing);
            }
            Action::Answer { leg, body, .. } => {
                self.send(leg, Cmd::Answered(body));
            }
            Action::Reject { leg, code } => {
                self.send(leg, Cmd::Rejected(code));
            }
            Action::Cancel { leg } => {
                self.send(leg, Cmd::Ended("cancelled".into()));
            }
            Action::Bye { leg } => {
                self.send(leg, Cmd::Ended("hung_up_on".into()));
            }
            Action::ReInvite { leg, req, body } => {
                if !self.send(leg, Cmd::ReInvite(req, body)) {
                    let sim = sim.clone();
                    tokio::spawn(async move {
                        sim.with(|p, now| p.reinvite_done(leg, req, 481, None, now));
                    });
                }
            }
            Action::Invite { .. }
            | Action::Respond { .. }
            | Action::Notify { .. }
            | Action::Refresh { .. } => {}
        }
    }

    /// The live party legs of a call, or every party leg when none is live.
    fn legs_of(&self, sim: &SimState, call: u64) -> Vec<LegId> {
        sim.read(|p, _| p.party_legs(call))
    }

    /// Makes a ringing called party of `call` answer now.
    pub fn answer(&self, sim: &SimState, call: u64) -> Result<(), PartyError> {
        let legs = self.legs_of(sim, call);
        let live = lock(&self.live);
        legs.into_iter()
            .find(|l| live.get(l).is_some_and(|tx| tx.send(Cmd::Answer).is_ok()))
            .map(|_| ())
            .ok_or(PartyError::NoParty(call))
    }

    /// Makes the first live party of `call` (the caller first) hang up.
    pub fn hangup(&self, sim: &SimState, call: u64) -> Result<(), PartyError> {
        let legs = self.legs_of(sim, call);
        let live = lock(&self.live);
        legs.into_iter()
            .find(|l| live.get(l).is_some_and(|tx| tx.send(Cmd::Hangup).is_ok()))
            .map(|_| ())
            .ok_or(PartyError::NoParty(call))
    }

    /// Makes the first live party of `call` send DTMF.
    pub fn dtmf(&self, sim: &SimState, call: u64, digits: &str) -> Result<(), PartyError> {
        let legs = self.legs_of(sim, call);
        let live = lock(&self.live);
        legs.into_iter()
            .find(|l| {
                live.get(l)
                    .is_some_and(|tx| tx.send(Cmd::Dtmf(digits.to_string())).is_ok())
            })
            .map(|_| ())
            .ok_or(PartyError::NoParty(call))
    }

    /// The parties of a call.
    pub fn views(&self, sim: &SimState, call: u64) -> Vec<PartyView> {
        let legs = self.legs_of(sim, call);
        let info = lock(&self.info);
        legs.into_iter()
            .filter_map(|l| info.get(&l).map(|i| (l, i.clone())))
            .map(|(leg, i)| view(leg, &lock(&i)))
            .collect()
    }

    /// RTP packets received by the parties of a call.
    pub fn rtp_received(&self, legs: &[LegId]) -> u64 {
        let info = lock(&self.info);
        legs.iter()
            .filter_map(|l| info.get(l))
            .map(|i| lock(i).engine.stats().packets_received)
            .sum()
    }

    /// The recording of one party leg (8 kHz mono samples).
    pub fn recording(&self, leg: LegId) -> Option<Vec<i16>> {
        let info = lock(&self.info).get(&leg).cloned()?;
        let i = lock(&info);
        Some(i.engine.recording().to_vec())
    }
}

/// Why placing a simulated outside call failed.
#[derive(Debug)]
pub enum PlaceOrRtp {
    /// The core refused.
    Place(PlaceError),
    /// No RTP port.
    Rtp(String),
}

fn view(leg: LegId, i: &PartyInfo) -> PartyView {
    let tone = i.engine.heard_tone();
    PartyView {
        leg,
        number: i.number.clone(),
        role: i.role,
        dialled: i.dialled.clone(),
        caller_id_received: i.caller_id.clone(),
        state: i.state.clone(),
        end_reason: i.end_reason.clone(),
        rtp: i.rtp,
        play: i.script.play.clone(),
        media: i.engine.stats().clone(),
        tone_hz: tone.map(|t| t.0),
        tone_share: tone.map(|t| t.1),
    }
}

/// Our answer to `offer` (direction answering theirs).
fn answer_sdp(info: &mut PartyInfo, offer: Option<&[u8]>, version: u64) -> Vec<u8> {
    let dir = offer
        .map(sdp_util::direction)
        .unwrap_or(Direction::SendRecv)
        .answer_to();
    if let Some(o) = offer {
        info.engine.set_remote(Remote::from_sdp(o));
        // SRTP keys: the first offer's were decided at the call's start, a
        // re-INVITE's just before this answer.
    }
    party_sdp(info.rtp, &info.script.codec, dir, &info.keys, 7, version)
}

/// A called party's early media: what it plays before the answer, what it
/// plays after, and the SDP answer its 183 carried (the 200 repeats it).
struct Early {
    play: Play,
    wav: Vec<i16>,
    main: Play,
    main_wav: Vec<i16>,
    sdp: Option<Vec<u8>>,
}

/// The party answers now: the SDP of its 183 when it sent one (RFC 3264:
/// an answer once given does not change), else a fresh answer; the early
/// media gives way to the script's `play`.
fn answer_now(
    info: &Arc<Mutex<PartyInfo>>,
    early: &mut Early,
    offer: Option<&[u8]>,
    version: &mut u64,
) -> Vec<u8> {
    let mut i = lock(info);
    i.state = "answered".into();
    match early.sdp.take() {
        Some(sdp) => {
            i.engine
                .set_play(early.main.clone(), std::mem::take(&mut early.main_wav));
            sdp
        }
        None => {
            *version += 1;
            answer_sdp(&mut i, offer, *version)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    sim: Arc<SimState>,
    leg: LegId,
    sock: UdpSocket,
    info: Arc<Mutex<PartyInfo>>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    script: PartyScript,
    called: bool,
    offer: Option<Vec<u8>>,
) {
    let mut early = {
        let (play, wav, _) = play_samples(script.early_play());
        let (main, main_wav, _) = wav_samples(&script);
        Early {
            play,
            wav,
            main,
            main_wav,
            sdp: None,
        }
    };
    let mut plan = PartyPlan::new(script);
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut media_on = false;
    let mut answered = false;
    let mut version = 1u64;
    if called {
        plan.called(sim.now());
    }
    let end = |info: &Arc<Mutex<PartyInfo>>, why: &str| {
        let mut i = lock(info);
        i.state = "ended".into();
        i.end_reason = Some(why.to_string());
    };
    loop {
        // Due timeline actions first.
        while let Some(a) = plan.poll(sim.now()) {
            match a {
                PartyAction::Ring => {
                    lock(&info).state = "ringing".into();
                    sim.with(|p, now| p.leg_ringing(leg, None, now));
                }
                PartyAction::EarlyMedia => {
                    if answered || early.sdp.is_some() {
                        continue;
                    }
                    media_on = true;
                    let sdp = {
                        let mut i = lock(&info);
                        i.state = "early_media".into();
                        version += 1;
                        let sdp = answer_sdp(&mut i, offer.as_deref(), version);
                        i.engine.set_play(early.play.clone(), early.wav.clone());
                        sdp
                    };
                    early.sdp = Some(sdp.clone());
                    sim.with(|p, now| p.leg_ringing(leg, Some(sdp), now));
                }
                PartyAction::EarlyMediaEnd => {
                    if !answered {
                        lock(&info).engine.set_play(Play::Silence, Vec::new());
                    }
                }
                PartyAction::Answer => {
                    if answered {
                        continue;
                    }
                    answered = true;
                    media_on = true;
                    let sdp = answer_now(&info, &mut early, offer.as_deref(), &mut version);
                    plan.answered(sim.now());
                    sim.with(|p, now| p.leg_answered(leg, Some(sdp), now));
                }
                PartyAction::Reject(code) => {
                    end(&info, &format!("rejected {code}"));
                    sim.with(|p, now| p.leg_failed(leg, code, now));
                    sim.parties.finished(leg);
                    return;
                }
                PartyAction::Dtmf(d) => lock(&info).engine.send_dtmf(&d),
                PartyAction::Hangup => {
                    end(&info, "hung_up");
                    sim.with(|p, now| p.leg_ended(leg, "bye", now));
                    sim.parties.finished(leg);
                    return;
                }
            }
        }
        let wake = plan
            .poll_timeout()
            .map(|at| Duration::from_millis(at.saturating_sub(sim.now())));
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    lock(&info).engine.receive_from(&buf[..n], from);
                }
            }
            _ = tick.tick(), if media_on => {
                let (packets, dest) = {
                    let mut i = lock(&info);
                    (i.engine.tick(), i.engine.destination())
                };
                if let Some(dest) = dest {
                    for p in packets {
                        let _ = sock.send_to(&p, dest).await;
                    }
                }
            }
            _ = tokio::time::sleep(wake.unwrap_or(Duration::from_secs(3600))), if wake.is_some() => {}
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                match cmd {
                    Cmd::Ringing => lock(&info).state = "ringing".into(),
                    Cmd::Answered(body) => {
                        let refused = {
                            let mut i = lock(&info);
                            let sdp = body.as_deref().and_then(|b| AudioSdp::parse(b).ok());
                            match sdp.map(|a| i.take_answer(&a)) {
                                Some(Err(why)) => Some(why),
                                _ => None,
                            }
                        };
                        if let Some(why) = refused {
                            // Answered without the keys `srtp` requires:
                            // hang up at once.
                            sim.event(
                                "party_srtp_refused",
                                None,
                                serde_json::json!({"leg": leg, "reason": why}),
                            );
                            end(&info, "srtp_refused");
                            sim.with(|p, now| p.leg_ended(leg, "bye", now));
                            sim.parties.finished(leg);
                            return;
                        }
                        answered = true;
                        media_on = true;
                        {
                            let mut i = lock(&info);
                            i.state = "answered".into();
                            if let Some(b) = &body {
                                i.engine.set_remote(Remote::from_sdp(b));
                            }
                        }
                        plan.answered(sim.now());
                    }
                    Cmd::Rejected(code) => {
                        end(&info, &format!("rejected {code}"));
                        sim.parties.finished(leg);
                        return;
                    }
                    Cmd::Ended(why) => {
                        end(&info, &why);
                        sim.parties.finished(leg);
                        return;
                    }
                    Cmd::ReInvite(req, body) => {
                        // New keys are taken; none on an encrypted call (or
                        // where `srtp` requires them) is refused with 488.
                        let refused = AudioSdp::parse(&body)
                            .ok()
                            .and_then(|o| lock(&info).answer_keys(&o).err());
                        if let Some(why) = refused {
                            sim.event(
                                "party_srtp_refused",
                                None,
                                serde_json::json!({"leg": leg, "reason": why}),
                            );
                            sim.with(|p, now| p.reinvite_done(leg, req, 488, None, now));
                            continue;
                        }
                        version += 1;
                        let sdp = answer_sdp(&mut lock(&info), Some(&body), version);
                        media_on = true;
                        sim.with(|p, now| p.reinvite_done(leg, req, 200, Some(sdp), now));
                    }
                    Cmd::Dtmf(d) => lock(&info).engine.send_dtmf(&d),
                    Cmd::Answer => {
                        if called && !answered {
                            answered = true;
                            media_on = true;
                            let sdp =
                                answer_now(&info, &mut early, offer.as_deref(), &mut version);
                            plan.answered(sim.now());
                            sim.with(|p, now| p.leg_answered(leg, Some(sdp), now));
                        }
                    }
                    Cmd::Hangup => {
                        end(&info, "hung_up");
                        sim.with(|p, now| p.leg_ended(leg, "bye", now));
                        sim.parties.finished(leg);
                        return;
                    }
                }
            }
            _ = sim.cancel.cancelled() => return,
        }
    }
}
