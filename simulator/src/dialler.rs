//! Predictive dialling (ACD-3): campaigns whose numbers the server dials,
//! connecting the answered calls to available operators of the campaign's
//! queue.
//!
//! [`Dialler`] is a sans-IO state machine. Inputs: [`Dialler::start`],
//! [`Dialler::stop`], [`Dialler::pace`] (with the number of available
//! operators per queue), the outcome of each attempt
//! ([`Dialler::ringing`], [`Dialler::answered`], [`Dialler::connected`],
//! [`Dialler::failed`], [`Dialler::abandoned`], [`Dialler::ended`]) and
//! [`Dialler::handle_timeout`]. Outputs: drain [`Dialler::poll_output`]
//! ([`DiallerOutput::Dial`], [`DiallerOutput::Cancel`],
//! [`DiallerOutput::Finished`]) and arm [`Dialler::poll_timeout`].
//!
//! Pacing: with `A` operators available, `W` answered calls already waiting
//! for one and `R` attempts still ringing, the dialler keeps
//! `ceil((A - W) × ratio) - R` new calls going. `ratio` starts at the
//! campaign's `initial_ratio`; it then follows the observed answer rate
//! (`1 / answer_rate`, at most `max_ratio`) scaled by a brake that closes
//! whenever the abandon rate (abandons / answered) reaches `abandon_target`
//! — at the target, pacing falls back to one call per free operator, which
//! cannot abandon while operators stay — and opens again slowly below half
//! the target.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::registrar::Millis;
use crate::tenant::{Campaign, Tenant};

/// An attempt id (unique across campaigns).
pub type AttemptId = u64;

/// What the dialler asks of the rest of the simulator.
#[derive(Debug, Clone, PartialEq)]
pub enum DiallerOutput {
    /// Call `number` (a simulated outside party) showing `caller_id`.
    Dial {
        /// The campaign.
        campaign: String,
        /// The attempt.
        attempt: AttemptId,
        /// Whom to call.
        number: String,
        /// The outside line shown.
        caller_id: Option<String>,
    },
    /// Give up ringing (no answer in time).
    Cancel {
        /// The attempt.
        attempt: AttemptId,
    },
    /// Every number was dialled and every attempt is over.
    Finished {
        /// The campaign.
        campaign: String,
    },
}

/// A campaign's counters as the API shows them.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counters {
    /// Calls placed.
    pub dialled: u64,
    /// Answered by the called party.
    pub answered: u64,
    /// Answered and connected to an operator.
    pub connects: u64,
    /// Answered but no operator within `abandon_after_ms` (or the party hung
    /// up while waiting for one).
    pub abandons: u64,
    /// Rang for `ring_timeout_ms` without answer.
    pub no_answers: u64,
    /// Busy (486/600).
    pub busy: u64,
    /// Other failures (rejected, unreachable).
    pub failed: u64,
}

/// A campaign as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CampaignView {
    /// Name.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// `idle`, `running`, `stopped` or `finished`.
    pub state: &'static str,
    /// Counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Attempts in progress.
    pub in_flight: usize,
    /// Numbers not dialled yet.
    pub remaining: usize,
    /// Current calls per available operator.
    pub ratio: f64,
    /// abandons / answered (0 before the first answer).
    pub abandon_rate: f64,
    /// The configured target.
    pub abandon_target: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptState {
    Dialling,
    Answered,
}

#[derive(Debug, Clone)]
struct Attempt {
    campaign: String,
    state: AttemptState,
    ring_deadline: Millis,
    cancelled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Idle,
    Running,
    Stopped,
    Finished,
}

#[derive(Debug, Clone)]
struct CampaignState {
    cfg: Campaign,
    run: RunState,
    next: usize,
    counters: Counters,
    /// Brake on over-dialling, 0 < brake <= 1.
    brake: f64,
}

impl CampaignState {
    fn abandon_rate(&self) -> f64 {
        if self.counters.answered == 0 {
            0.0
        } else {
            self.counters.abandons as f64 / self.counters.answered as f64
        }
    }

    fn ratio(&self) -> f64 {
        let c = &self.counters;
        let finished = c.answered + c.no_answers + c.busy + c.failed;
        let base = if finished < 5 {
            self.cfg.initial_ratio
        } else {
            let rate = (c.answered as f64 / finished as f64).max(1.0 / self.cfg.max_ratio);
            1.0 / rate
        };
        (base * self.brake).clamp(1.0, self.cfg.max_ratio)
    }

    fn adjust(&mut self) {
        let rate = self.abandon_rate();
        if rate >= self.cfg.abandon_target {
            self.brake = 0.0; // clamp makes the ratio 1.0: progressive dialling
        } else if rate < self.cfg.abandon_target * 0.5 {
            self.brake = (self.brake.max(0.25) * 1.1).min(1.0);
        }
    }
}

/// The dialler state machine.
#[derive(Debug)]
pub struct Dialler {
    campaigns: BTreeMap<String, CampaignState>,
    attempts: BTreeMap<AttemptId, Attempt>,
    next_attempt: AttemptId,
    out: VecDeque<DiallerOutput>,
}

/// Why a campaign request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiallerError {
    /// No such campaign.
    #[error("no campaign '{0}' in this tenant")]
    Unknown(String),
}

impl Dialler {
    /// A dialler for the tenant's campaigns, all idle.
    pub fn new(tenant: &Tenant) -> Dialler {
        Dialler {
            campaigns: tenant
                .campaigns
                .iter()
                .map(|(name, c)| {
                    (
                        name.clone(),
                        CampaignState {
                            cfg: c.clone(),
                            run: RunState::Idle,
                            next: 0,
                            counters: Counters::default(),
                            brake: 1.0,
                        },
                    )
                })
                .collect(),
            attempts: BTreeMap::new(),
            next_attempt: 1,
            out: VecDeque::new(),
        }
    }

    /// Starts (or resumes) a campaign; a finished one starts over with fresh counters.
    pub fn start(&mut self, name: &str) -> Result<(), DiallerError> {
        let c = self
            .campaigns
            .get_mut(name)
            .ok_or_else(|| DiallerError::Unknown(name.to_string()))?;
        if c.run == RunState::Finished {
            c.next = 0;
            c.counters = Counters::default();
            c.brake = 1.0;
        }
        c.run = RunState::Running;
        Ok(())
    }

    /// Stops dialling new numbers; calls in progress go on.
    pub fn stop(&mut self, name: &str) -> Result<(), DiallerError> {
        let c = self
            .campaigns
            .get_mut(name)
            .ok_or_else(|| DiallerError::Unknown(name.to_string()))?;
        if c.run == RunState::Running {
            c.run = RunState::Stopped;
        }
        Ok(())
    }

    /// The queues of running campaigns (the caller tells [`Dialler::pace`]
    /// how many of their operators are available and how many calls wait).
    pub fn running_queues(&self) -> Vec<String> {
        self.campaigns
            .values()
            .filter(|c| c.run == RunState::Running)
            .map(|c| c.cfg.queue.clone())
            .collect()
    }

    /// Places new calls for every running campaign. `available(queue)`
    /// gives the operators available in a queue.
    pub fn pace(&mut self, now: Millis, available: &dyn Fn(&str) -> usize) {
        let names: Vec<String> = self.campaigns.keys().cloned().collect();
        for name in names {
            let (waiting, ringing) = self.in_flight(&name);
            let Some(c) = self.campaigns.get_mut(&name) else {
                continue;
            };
            if c.run != RunState::Running {
                continue;
            }
            let free = available(&c.cfg.queue).saturating_sub(waiting);
            let target = (free as f64 * c.ratio()).ceil() as usize;
            let want = target.saturating_sub(ringing);
            for _ in 0..want {
                let Some(number) = c.cfg.numbers.get(c.next).cloned() else {
                    break;
                };
                c.next += 1;
                c.counters.dialled += 1;
                let attempt = self.next_attempt;
                self.next_attempt += 1;
                self.attempts.insert(
                    attempt,
                    Attempt {
                        campaign: name.clone(),
                        state: AttemptState::Dialling,
                        ring_deadline: now + c.cfg.ring_timeout_ms,
                        cancelled: false,
                    },
                );
                self.out.push_back(DiallerOutput::Dial {
                    campaign: name.clone(),
                    attempt,
                    number,
                    caller_id: c.cfg.caller_id.clone(),
                });
            }
            self.check_finished(&name);
        }
    }

    /// (answered and waiting for an operator, still ringing) attempts of a campaign.
    fn in_flight(&self, name: &str) -> (usize, usize) {
        let mut waiting = 0;
        let mut ringing = 0;
        for a in self.attempts.values().filter(|a| a.campaign == name) {
            match a.state {
                AttemptState::Answered => waiting += 1,
                AttemptState::Dialling => ringing += 1,
            }
        }
        (waiting, ringing)
    }

    fn check_finished(&mut self, name: &str) {
        let busy = self.attempts.values().any(|a| a.campaign == name);
        if let Some(c) = self.campaigns.get_mut(name)
            && matches!(c.run, RunState::Running | RunState::Stopped)
            && c.next >= c.cfg.numbers.len()
            && !busy
        {
            c.run = RunState::Finished;
            self.out.push_back(DiallerOutput::Finished {
                campaign: name.to_string(),
            });
        }
    }

    fn finish(&mut self, attempt: AttemptId, f: impl FnOnce(&mut Counters)) {
        if let Some(a) = self.attempts.remove(&attempt) {
            if let Some(c) = self.campaigns.get_mut(&a.campaign) {
                f(&mut c.counters);
                c.adjust();
            }
            self.check_finished(&a.campaign);
        }
    }

    /// The called party rings (nothing changes; kept for symmetry and events).
    pub fn ringing(&mut self, _attempt: AttemptId) {}

    /// The called party answered; the call now waits for an operator.
    pub fn answered(&mut self, attempt: AttemptId) {
        if let Some(a) = self.attempts.get_mut(&attempt)
            && a.state == AttemptState::Dialling
        {
            a.state = AttemptState::Answered;
            if let Some(c) = self.campaigns.get_mut(&a.campaign) {
                c.counters.answered += 1;
            }
        }
    }

    /// An operator took the answered call.
    pub fn connected(&mut self, attempt: AttemptId) {
        self.finish(attempt, |c| c.connects += 1);
    }

    /// No operator took the answered call in time, or the party hung up waiting.
    pub fn abandoned(&mut self, attempt: AttemptId) {
        self.finish(attempt, |c| c.abandons += 1);
    }

    /// The attempt failed with a SIP status before answer (487 after our
    /// cancel counts as no-answer).
    pub fn failed(&mut self, attempt: AttemptId, code: u16) {
        let cancelled = self.attempts.get(&attempt).is_some_and(|a| a.cancelled);
        self.finish(attempt, |c| {
            if cancelled || code == 408 || code == 480 {
                c.no_answers += 1;
            } else if code == 486 || code == 600 {
                c.busy += 1;
            } else {
                c.failed += 1;
            }
        });
    }

    /// The call ended: before answer it failed (487), while waiting for an
    /// operator it is an abandon; after connect nothing changes.
    pub fn ended(&mut self, attempt: AttemptId) {
        match self.attempts.get(&attempt).map(|a| a.state) {
            Some(AttemptState::Answered) => self.abandoned(attempt),
            Some(AttemptState::Dialling) => self.failed(attempt, 487),
            None => {}
        }
    }

    /// Advances time: attempts that rang too long are cancelled.
    pub fn handle_timeout(&mut self, now: Millis) {
        for (id, a) in self.attempts.iter_mut() {
            if a.state == AttemptState::Dialling && !a.cancelled && a.ring_deadline <= now {
                a.cancelled = true;
                self.out.push_back(DiallerOutput::Cancel { attempt: *id });
            }
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<DiallerOutput> {
        self.out.pop_front()
    }

    /// The earliest ring deadline.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.attempts
            .values()
            .filter(|a| a.state == AttemptState::Dialling && !a.cancelled)
            .map(|a| a.ring_deadline)
            .min()
    }

    /// The campaign's abandon wait (`abandon_after_ms`).
    pub fn abandon_after(&self, attempt: AttemptId) -> Option<(String, Millis)> {
        let a = self.attempts.get(&attempt)?;
        let c = self.campaigns.get(&a.campaign)?;
        Some((c.cfg.queue.clone(), c.cfg.abandon_after_ms))
    }

    /// Every campaign.
    pub fn campaigns(&self) -> Vec<CampaignView> {
        self.campaigns
            .keys()
            .filter_map(|n| self.campaign(n))
            .collect()
    }

    /// One campaign.
    pub fn campaign(&self, name: &str) -> Option<CampaignView> {
        let c = self.campaigns.get(name)?;
        let in_flight = self
            .attempts
            .values()
            .filter(|a| a.campaign == name)
            .count();
        Some(CampaignView {
            name: name.to_string(),
            queue: c.cfg.queue.clone(),
            state: match c.run {
                RunState::Idle => "idle",
                RunState::Running => "running",
                RunState::Stopped => "stopped",
                RunState::Finished => "finished",
            },
            counters: c.counters.clone(),
            in_flight,
            remaining: c.cfg.numbers.len().saturating_sub(c.next),
            ratio: c.ratio(),
            abandon_rate: c.abandon_rate(),
            abandon_target: c.cfg.abandon_target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator (xorshift) for the simulated world.
    struct Rng(u64);
    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn tenant(numbers: usize, target: f64) -> Tenant {
        let mut t = Tenant::builtin();
        t.campaigns.clear();
        t.campaigns.insert(
            "c".into(),
            Campaign {
                queue: "support".into(),
                numbers: (0..numbers).map(|i| format!("080{i:07}")).collect(),
                initial_ratio: 1.5,
                max_ratio: 3.0,
                abandon_target: target,
                abandon_after_ms: 2_000,
                ring_timeout_ms: 15_000,
                caller_id: Some("0312345680".into()),
            },
        );
        t
    }

    fn drain(d: &mut Dialler) -> Vec<DiallerOutput> {
        std::iter::from_fn(|| d.poll_output()).collect()
    }

    #[test]
    fn dials_per_available_operator_and_finishes() {
        let mut d = Dialler::new(&tenant(3, 0.03));
        assert_eq!(d.start("x"), Err(DiallerError::Unknown("x".into())));
        d.start("c").expect("start");
        d.pace(0, &|_| 0);
        assert!(drain(&mut d).is_empty(), "no operator, no dialling");
        d.pace(0, &|_| 1);
        let out = drain(&mut d);
        assert_eq!(out.len(), 2, "ceil(1 x 1.5) = 2 calls: {out:?}");
        let ids: Vec<AttemptId> = out
            .iter()
            .filter_map(|o| match o {
                DiallerOutput::Dial { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect();
        d.answered(ids[0]);
        d.connected(ids[0]);
        d.failed(ids[1], 486);
        d.pace(10, &|_| 1);
        let last: Vec<AttemptId> = drain(&mut d)
            .iter()
            .filter_map(|o| match o {
                DiallerOutput::Dial { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect();
        assert_eq!(last.len(), 1, "one number left");
        assert_eq!(d.poll_timeout(), Some(15_010));
        d.handle_timeout(15_010);
        assert_eq!(
            drain(&mut d),
            vec![DiallerOutput::Cancel { attempt: last[0] }]
        );
        d.failed(last[0], 487);
        assert_eq!(
            drain(&mut d),
            vec![DiallerOutput::Finished {
                campaign: "c".into()
            }]
        );
        let v = d.campaign("c").expect("view");
        assert_eq!(
            (
                v.counters.dialled,
                v.counters.connects,
                v.counters.busy,
                v.counters.no_answers
            ),
            (3, 1, 1, 1)
        );
        assert_eq!(v.state, "finished");
    }

    /// A whole campaign in virtual time: 3 operators, parties that answer 35 %
    /// of the time after 1-6 s, calls of 5-25 s and 3 s of after-call work.
    /// The abandon rate must end below the target while the operators stay
    /// busier than with one call per operator.
    fn run_world(seed: u64, target: f64) -> (CampaignView, f64) {
        const OPS: usize = 3;
        let mut d = Dialler::new(&tenant(400, target));
        d.start("c").expect("start");
        let mut rng = Rng(seed);
        // operator i is free at free_at[i]
        let mut free_at = [0u64; OPS];
        // answered attempts waiting: (attempt, answered_at)
        let mut waiting: VecDeque<(AttemptId, Millis)> = VecDeque::new();
        // pending outcomes: (at, attempt, answer?)
        let mut pending: Vec<(Millis, AttemptId, bool)> = Vec::new();
        let mut busy_ms = 0u64;
        let mut now = 0u64;
        let step = 100u64;
        while now < 4 * 3600 * 1000 {
            d.handle_timeout(now);
            // outcomes due
            pending.sort();
            while pending.first().is_some_and(|p| p.0 <= now) {
                let (_, id, answers) = pending.remove(0);
                if answers {
                    d.answered(id);
                    waiting.push_back((id, now));
                }
            }
            // connect waiting calls to free operators, abandon old ones
            while let Some(&(id, at)) = waiting.front() {
                if now.saturating_sub(at) > 2_000 {
                    waiting.pop_front();
                    d.abandoned(id);
                    continue;
                }
                let Some(op) = (0..OPS).find(|&i| free_at[i] <= now) else {
                    break;
                };
                waiting.pop_front();
                d.connected(id);
                let talk = 5_000 + (rng.unit() * 20_000.0) as u64;
                busy_ms += talk;
                free_at[op] = now + talk + 3_000;
            }
            let available = (0..OPS).filter(|&i| free_at[i] <= now).count();
            d.pace(now, &|_| available);
            for o in drain(&mut d) {
                match o {
                    DiallerOutput::Dial { attempt, .. } => {
                        let answers = rng.unit() < 0.35;
                        let after = if answers {
                            1_000 + (rng.unit() * 5_000.0) as u64
                        } else {
                            20_000 // rings out; the dialler cancels at 15 s
                        };
                        pending.push((now + after, attempt, answers));
                    }
                    DiallerOutput::Cancel { attempt } => {
                        pending.retain(|p| p.1 != attempt);
                        d.failed(attempt, 487);
                    }
                    DiallerOutput::Finished { .. } => {
                        let v = d.campaign("c").expect("view");
                        let utilisation = busy_ms as f64 / (now.max(1) * OPS as u64) as f64;
                        return (v, utilisation);
                    }
                }
            }
            now += step;
        }
        panic!("the campaign did not finish in 4 virtual hours");
    }

    #[test]
    fn pacing_keeps_abandons_under_target_over_many_seeds() {
        for seed in [1u64, 7, 42, 1234, 99_999] {
            let (v, utilisation) = run_world(seed, 0.05);
            assert_eq!(v.counters.dialled, 400);
            assert!(
                v.abandon_rate <= 0.05,
                "seed {seed}: abandon rate {:.3} over the 5 % target: {v:?}",
                v.abandon_rate
            );
            assert!(v.counters.connects > 100, "seed {seed}: {v:?}");
            assert!(
                utilisation > 0.3,
                "seed {seed}: operators idle: {utilisation:.2}"
            );
        }
    }

    #[test]
    fn a_strict_target_falls_back_to_progressive_dialling() {
        let (v, progressive) = run_world(3, 0.0);
        // With a zero target every abandon closes the brake for good.
        assert!(v.abandon_rate <= 0.02, "{v:?}");
        // Predictive pacing keeps operators busier than progressive dialling.
        let (_, predictive) = run_world(3, 0.05);
        assert!(
            predictive > progressive * 1.1,
            "predictive {predictive:.2} vs progressive {progressive:.2}"
        );
    }
}
