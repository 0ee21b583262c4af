//! Deterministic tests of the PBX core: a rig feeds leg events in virtual
//! time and reads the actions back, no sockets, no sleeps.

use super::*;
use crate::tenant::{Operator, Queue, QueueStrategy};

fn sdp(host: u8, port: u16, dir: &str) -> Vec<u8> {
    format!(
        "v=0\r\no=x 1 1 IN IP4 10.0.0.{host}\r\ns=-\r\nc=IN IP4 10.0.0.{host}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na={dir}\r\n"
    )
    .into_bytes()
}

fn has(body: &Option<Vec<u8>>, needle: &str) -> bool {
    body.as_deref()
        .is_some_and(|b| String::from_utf8_lossy(b).contains(needle))
}

struct Rig {
    pbx: Pbx,
    now: Millis,
    events: Vec<PbxEvent>,
}

impl Rig {
    fn new(mut t: Tenant) -> Rig {
        t.sip.challenge_invites = false;
        Rig::with(t)
    }

    fn with(t: Tenant) -> Rig {
        Rig {
            pbx: Pbx::new(Arc::new(t), 1000),
            now: 0,
            events: Vec::new(),
        }
    }

    fn reg(&mut self, ext: &str, contact: &str) {
        self.pbx.registrar.bind(ext, contact, 3_600_000);
    }

    fn drain(&mut self) -> Vec<Action> {
        let acts: Vec<Action> = std::iter::from_fn(|| self.pbx.poll_action()).collect();
        self.events
            .extend(std::iter::from_fn(|| self.pbx.poll_event()));
        acts
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.kind).collect()
    }

    fn advance(&mut self, ms: Millis) {
        self.now += ms;
        self.pbx.handle_timeout(self.now);
    }

    fn invite(&mut self, from: &str, to: &str, tag: &str) -> LegId {
        let inv = InboundInvite {
            from_user: from.into(),
            from_name: None,
            dialled: to.into(),
            request_uri: format!("sip:{to}@h"),
            authorization: None,
            source: "127.0.0.1".parse().expect("ip"),
            dialog: DialogKey {
                call_id: format!("cid-{tag}"),
                local_tag: format!("our-{tag}"),
                remote_tag: format!("their-{tag}"),
            },
            body: Some(sdp(1, 4000, "sendrecv")),
            replaces: None,
            timer: TimerHeaders::default(),
        };
        match self.pbx.incoming_invite(inv, self.now) {
            InviteDecision::Accept(l) => l,
            other => panic!("INVITE refused: {other:?}"),
        }
    }

    fn view(&self, call: CallId) -> CallView {
        self.pbx.call(call).expect("call exists")
    }
}

fn invites(acts: &[Action]) -> Vec<(LegId, String, Presented)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Invite {
                leg,
                contact,
                presented,
                ..
            } => Some((*leg, contact.clone(), presented.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn outside_call_forks_to_every_contact_and_first_answer_wins() {
    let mut r = Rig::new(Tenant::builtin());
    r.reg("1910", "sip:1910@127.0.0.1:5071");
    r.reg("1910", "sip:1910@127.0.0.1:5072");
    let (call, anchor) = r
        .pbx
        .place_call(
            "09011112222",
            "0312345678",
            Some(sdp(9, 7000, "sendrecv")),
            0,
        )
        .expect("placed");
    let acts = r.drain();
    let inv = invites(&acts);
    assert_eq!(inv.len(), 2, "{acts:?}");
    let p = &inv[0].2;
    assert_eq!(p.from_user, "09011112222");
    assert_eq!(p.pai.as_deref(), Some("09011112222"));
    assert_eq!(p.called_party.as_deref(), Some("0312345678"));
    // The offer is the caller's SDP with our origin.
    let Action::Invite { body, .. } = &acts[0] else {
        panic!("{acts:?}")
    };
    assert!(
        has(body, "c=IN IP4 10.0.0.9") && has(body, "o=- "),
        "{body:?}"
    );

    r.pbx.leg_ringing(inv[0].0, None, 10);
    assert_eq!(
        r.drain(),
        vec![Action::Ring {
            leg: anchor,
            body: None
        }]
    );
    assert_eq!(r.view(call).state, CallState::Ringing);
    r.pbx.leg_ringing(inv[1].0, None, 11);
    assert!(r.drain().is_empty(), "the caller hears one ringing");

    r.pbx
        .leg_answered(inv[1].0, Some(sdp(2, 5000, "sendrecv")), 20);
    let acts = r.drain();
    assert!(acts.contains(&Action::Cancel { leg: inv[0].0 }), "{acts:?}");
    assert!(
        acts.iter().any(
            |a| matches!(a, Action::Answer { leg, body, .. } if *leg == anchor && has(body, "10.0.0.2"))
        ),
        "{acts:?}"
    );
    let v = r.view(call);
    assert_eq!(
        (v.state, v.extension.as_str(), v.talking_to.as_deref()),
        (CallState::Answered, "1910", Some("1910"))
    );

    // The softphone hangs up.
    r.pbx.leg_ended(inv[1].0, "bye", 30);
    assert_eq!(r.drain(), vec![Action::Bye { leg: anchor }]);
    let v = r.view(call);
    assert_eq!(v.state, CallState::Ended);
    assert_eq!(v.end_reason.as_deref(), Some("callee_hangup"));
    assert_eq!(
        r.kinds(),
        vec!["call_placed", "call_ringing", "call_answered", "call_ended"]
    );
}

#[test]
fn busy_unregistered_and_cancel() {
    let mut r = Rig::new(Tenant::builtin());
    assert_eq!(
        r.pbx.place_call("0901", "0312345678", None, 0),
        Err(PlaceError::NotRegistered("1910".into()))
    );
    assert!(matches!(
        r.pbx.place_call("0901", "0399", None, 0),
        Err(PlaceError::UnknownLine(_))
    ));
    assert!(matches!(
        r.pbx.place_call("09 01", "0312345678", None, 0),
        Err(PlaceError::BadCaller(_))
    ));
    r.reg("1910", "sip:1910@h:1");
    let (call, anchor) = r
        .pbx
        .place_call("0901", "0312345678", None, 0)
        .expect("placed");
    let leg = invites(&r.drain())[0].0;
    r.pbx.leg_failed(leg, 486, 5);
    assert_eq!(
        r.drain(),
        vec![Action::Reject {
            leg: anchor,
            code: 486
        }]
    );
    assert_eq!(r.view(call).end_reason.as_deref(), Some("rejected 486"));

    // A SIP caller cancels while the extension rings.
    let a = r.invite("0455556666", "0312345678", "c");
    let call = r.pbx.call_of(a).expect("call");
    let leg = invites(&r.drain())[0].0;
    r.pbx.leg_ringing(leg, None, 6);
    r.drain();
    r.pbx.leg_ended(a, "cancel", 7);
    assert_eq!(r.drain(), vec![Action::Cancel { leg }]);
    assert_eq!(r.view(call).end_reason.as_deref(), Some("caller_hangup"));
}

#[test]
fn internal_call_is_challenged_then_presented_as_the_extension() {
    let mut t = Tenant::builtin();
    t.sip.challenge_invites = true;
    let mut r = Rig::with(t);
    r.reg("1303", "sip:1303@h:3");
    let inv = InboundInvite {
        from_user: "1910".into(),
        from_name: Some("Taro".into()),
        dialled: "1303".into(),
        request_uri: "sip:1303@h".into(),
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey::default(),
        body: Some(sdp(1, 4000, "sendrecv")),
        replaces: None,
        timer: TimerHeaders::default(),
    };
    let InviteDecision::Challenge(ch) = r.pbx.incoming_invite(inv.clone(), 0) else {
        panic!("expected 407");
    };
    let nonce = ch[0]
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce");
    let resp = bb_sip::digest::response(
        bb_sip::digest::Algorithm::Md5,
        "1910",
        "bluebean",
        "pw1910",
        "INVITE",
        "sip:1303@h",
        nonce,
        None,
    );
    let mut good = inv.clone();
    good.authorization = Some(format!(
        "Digest username=\"1910\", realm=\"bluebean\", nonce=\"{nonce}\", uri=\"sip:1303@h\", response=\"{resp}\""
    ));
    let InviteDecision::Accept(a) = r.pbx.incoming_invite(good, 1) else {
        panic!("expected the call to be accepted");
    };
    let call = r.pbx.call_of(a).expect("call");
    let inv_out = invites(&r.drain());
    assert_eq!(inv_out.len(), 1);
    let p = &inv_out[0].2;
    assert_eq!(p.from_user, "1910");
    assert_eq!(
        p.called_party, None,
        "internal calls carry no P-Called-Party-ID"
    );
    assert_eq!(r.view(call).kind, CallKind::Internal);
    let mut bad = inv;
    bad.authorization = Some("Digest username=\"1910\", realm=\"bluebean\", nonce=\"x\", uri=\"sip:1303@h\", response=\"00\"".into());
    assert!(
        matches!(r.pbx.incoming_invite(bad, 2), InviteDecision::Challenge(_)),
        "stale nonce: challenge again"
    );
}

fn answered_outside_call(r: &mut Rig, ext: &str, line: &str) -> (CallId, LegId, LegId) {
    r.reg(ext, &format!("sip:{ext}@h:1"));
    let (call, anchor) = r
        .pbx
        .place_call("09011112222", line, Some(sdp(9, 7000, "sendrecv")), r.now)
        .expect("placed");
    let leg = invites(&r.drain())[0].0;
    r.pbx.leg_dialog(
        leg,
        DialogKey {
            call_id: format!("c{call}"),
            local_tag: "sim".into(),
            remote_tag: "phone".into(),
        },
    );
    r.pbx
        .leg_answered(leg, Some(sdp(2, 5000, "sendrecv")), r.now);
    r.drain();
    (call, anchor, leg)
}

#[test]
fn hold_is_relayed_across_legs() {
    let mut r = Rig::new(Tenant::builtin());
    let (call, anchor, leg) = answered_outside_call(&mut r, "1910", "0312345678");
    r.pbx.reinvite(leg, 77, Some(sdp(2, 5000, "sendonly")), 10);
    let acts = r.drain();
    let [Action::ReInvite { leg: l, req, body }] = acts.as_slice() else {
        panic!("{acts:?}")
    };
    assert_eq!(*l, anchor);
    assert!(String::from_utf8_lossy(body).contains("a=sendonly"));
    assert!(r.view(call).held);
    r.pbx
        .reinvite_done(anchor, *req, 200, Some(sdp(9, 7000, "recvonly")), 11);
    let acts = r.drain();
    assert!(
        matches!(&acts[..], [Action::Respond { leg: l, txn: 77, code: 200, body, .. }] if *l == leg && has(body, "a=recvonly")),
        "{acts:?}"
    );
    r.pbx.reinvite(leg, 78, Some(sdp(2, 5000, "sendrecv")), 12);
    r.drain();
    assert!(!r.view(call).held);
    assert!(r.kinds().contains(&"call_held") && r.kinds().contains(&"call_resumed"));
}

#[test]
fn blind_transfer_connects_the_caller_to_the_target() {
    let mut r = Rig::new(Tenant::builtin());
    r.reg("1303", "sip:1303@h:3");
    let (call, anchor, op) = answered_outside_call(&mut r, "1910", "0312345678");
    r.pbx.refer(
        op,
        5,
        ReferRequest {
            target: "1303".into(),
            replaces: None,
        },
        10,
    );
    let acts = r.drain();
    assert_eq!(
        acts[..2],
        [
            Action::Respond {
                leg: op,
                txn: 5,
                code: 202,
                body: None,
                headers: Vec::new()
            },
            Action::Notify {
                leg: op,
                code: 100,
                terminated: false
            }
        ]
    );
    let inv = invites(&acts);
    assert_eq!(inv.len(), 1);
    assert_eq!(
        inv[0].2.from_user, "09011112222",
        "the target sees the outside caller"
    );
    assert_eq!(inv[0].2.called_party.as_deref(), Some("0312345678"));
    let target = inv[0].0;
    r.pbx.leg_ringing(target, None, 11);
    assert_eq!(
        r.drain(),
        vec![Action::Notify {
            leg: op,
            code: 180,
            terminated: false
        }]
    );
    r.pbx
        .leg_answered(target, Some(sdp(3, 6000, "sendrecv")), 12);
    let acts = r.drain();
    assert!(acts.contains(&Action::Notify {
        leg: op,
        code: 200,
        terminated: true
    }));
    assert!(
        acts.iter().any(|a| matches!(a, Action::ReInvite { leg, body, .. } if *leg == anchor && String::from_utf8_lossy(body).contains("10.0.0.3"))),
        "{acts:?}"
    );
    // The transferor's BYE ends only its own leg.
    r.pbx.leg_ended(op, "bye", 13);
    assert!(r.drain().is_empty());
    let v = r.view(call);
    assert_eq!(
        (v.state, v.extension.as_str(), v.talking_to.as_deref()),
        (CallState::Answered, "1303", Some("1303"))
    );
    assert_eq!(v.transfers.len(), 1);
    assert_eq!(v.transfers[0].outcome, "completed");
    assert_eq!(v.transfers[0].kind, "blind");
}

#[test]
fn failed_blind_transfer_is_notified_and_the_call_stays() {
    let mut r = Rig::new(Tenant::builtin());
    r.reg("1303", "sip:1303@h:3");
    let (call, _anchor, op) = answered_outside_call(&mut r, "1910", "0312345678");
    r.pbx.refer(
        op,
        5,
        ReferRequest {
            target: "1303".into(),
            replaces: None,
        },
        10,
    );
    let target = invites(&r.drain())[0].0;
    r.pbx.leg_failed(target, 486, 11);
    assert_eq!(
        r.drain(),
        vec![Action::Notify {
            leg: op,
            code: 486,
            terminated: true
        }]
    );
    let v = r.view(call);
    assert_eq!(
        (v.state, v.extension.as_str()),
        (CallState::Answered, "1910")
    );
    assert_eq!(v.transfers[0].outcome, "failed 486");
    // Transfer to an unregistered extension fails at once.
    r.pbx.refer(
        op,
        6,
        ReferRequest {
            target: "1912".into(),
            replaces: None,
        },
        12,
    );
    let acts = r.drain();
    assert!(acts.contains(&Action::Notify {
        leg: op,
        code: 480,
        terminated: true
    }));
}

#[test]
fn attended_transfer_joins_the_held_caller_and_the_consulted_extension() {
    let mut r = Rig::new(Tenant::builtin());
    let (call1, anchor1, op_leg1) = answered_outside_call(&mut r, "1910", "0312345678");
    // 1910 consults 1303.
    r.reg("1303", "sip:1303@h:3");
    let op_leg2 = r.invite("1910", "1303", "consult");
    let call2 = r.pbx.call_of(op_leg2).expect("call2");
    let target = invites(&r.drain())[0].0;
    r.pbx
        .leg_answered(target, Some(sdp(3, 6000, "sendrecv")), 20);
    r.drain();
    // REFER on the first call, Replaces naming the consultation dialog
    // as the operator sees it (to-tag: ours, from-tag: the operator's).
    r.pbx.refer(
        op_leg1,
        9,
        ReferRequest {
            target: "1303".into(),
            replaces: Some(ReplacesRef {
                call_id: "cid-consult".into(),
                to_tag: "our-consult".into(),
                from_tag: "their-consult".into(),
            }),
        },
        30,
    );
    let acts = r.drain();
    assert!(acts.contains(&Action::Respond {
        leg: op_leg1,
        txn: 9,
        code: 202,
        body: None,
        headers: Vec::new()
    }));
    assert!(acts.contains(&Action::Notify {
        leg: op_leg1,
        code: 200,
        terminated: true
    }));
    assert!(acts.contains(&Action::Bye { leg: op_leg1 }));
    assert!(acts.contains(&Action::Bye { leg: op_leg2 }));
    let reinvited: Vec<LegId> = acts
        .iter()
        .filter_map(|a| match a {
            Action::ReInvite { leg, .. } => Some(*leg),
            _ => None,
        })
        .collect();
    assert_eq!(reinvited, vec![anchor1, target]);
    let v1 = r.view(call1);
    assert_eq!(
        (v1.state, v1.extension.as_str(), v1.talking_to.as_deref()),
        (CallState::Answered, "1303", Some("1303"))
    );
    assert_eq!(v1.transfers[0].kind, "attended");
    let v2 = r.view(call2);
    assert_eq!(v2.state, CallState::Ended);
    assert_eq!(v2.merged_into, Some(call1));
    // The consulted extension hangs up: the survivor ends.
    r.pbx.leg_ended(target, "bye", 40);
    assert_eq!(r.drain(), vec![Action::Bye { leg: anchor1 }]);
    assert_eq!(r.view(call1).end_reason.as_deref(), Some("callee_hangup"));
}

#[test]
fn attended_transfer_can_leave_the_transferors_legs_to_its_own_byes() {
    let mut r = Rig::new(Tenant::builtin());
    r.pbx.set_transferor_hangs_up(true);
    let (call1, anchor1, op_leg1) = answered_outside_call(&mut r, "1910", "0312345678");
    r.reg("1303", "sip:1303@h:3");
    let op_leg2 = r.invite("1910", "1303", "consult");
    let target = invites(&r.drain())[0].0;
    r.pbx
        .leg_answered(target, Some(sdp(3, 6000, "sendrecv")), 20);
    r.drain();
    r.pbx.refer(
        op_leg1,
        9,
        ReferRequest {
            target: "1303".into(),
            replaces: Some(ReplacesRef {
                call_id: "cid-consult".into(),
                to_tag: "our-consult".into(),
                from_tag: "their-consult".into(),
            }),
        },
        30,
    );
    let acts = r.drain();
    assert!(acts.contains(&Action::Notify {
        leg: op_leg1,
        code: 200,
        terminated: true
    }));
    for leg in [op_leg1, op_leg2] {
        assert!(!acts.contains(&Action::Bye { leg }), "{acts:?}");
        assert!(r.pbx.leg_live(leg), "leg {leg} stays up for its BYE");
    }
    assert_eq!(r.view(call1).talking_to.as_deref(), Some("1303"));
    // The transferor hangs up both: only its legs end.
    r.pbx.leg_ended(op_leg1, "bye", 40);
    r.pbx.leg_ended(op_leg2, "bye", 41);
    assert_eq!(r.drain(), vec![]);
    assert!(!r.pbx.leg_live(op_leg1) && !r.pbx.leg_live(op_leg2));
    let v1 = r.view(call1);
    assert_eq!(
        (v1.state, v1.talking_to.as_deref()),
        (CallState::Answered, Some("1303"))
    );
    assert!(r.pbx.leg_live(anchor1) && r.pbx.leg_live(target));
}

#[test]
fn attended_transfer_with_an_unknown_dialog_fails_by_notify() {
    let mut r = Rig::new(Tenant::builtin());
    let (call, _, op) = answered_outside_call(&mut r, "1910", "0312345678");
    r.pbx.refer(
        op,
        1,
        ReferRequest {
            target: "1303".into(),
            replaces: Some(ReplacesRef {
                call_id: "nope".into(),
                to_tag: "a".into(),
                from_tag: "b".into(),
            }),
        },
        5,
    );
    let acts = r.drain();
    assert!(acts.contains(&Action::Notify {
        leg: op,
        code: 481,
        terminated: true
    }));
    assert_eq!(r.view(call).state, CallState::Answered);
}

#[test]
fn invite_with_replaces_takes_over_a_leg() {
    let mut r = Rig::new(Tenant::builtin());
    let (call, anchor, leg) = answered_outside_call(&mut r, "1910", "0312345678");
    let inv = InboundInvite {
        from_user: "1911".into(),
        from_name: None,
        dialled: "1910".into(),
        request_uri: "sip:1910@h".into(),
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey {
            call_id: "pickup".into(),
            local_tag: "t1".into(),
            remote_tag: "t2".into(),
        },
        body: Some(sdp(4, 4444, "sendrecv")),
        replaces: ReplacesRef::parse(&format!("c{call};to-tag=phone;from-tag=sim")),
        timer: TimerHeaders::default(),
    };
    let InviteDecision::Accept(new) = r.pbx.incoming_invite(inv, 10) else {
        panic!("refused")
    };
    let acts = r.drain();
    assert!(acts.iter().any(
        |a| matches!(a, Action::Answer { leg, body, .. } if *leg == new && has(body, "10.0.0.9"))
    ));
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::ReInvite { leg, .. } if *leg == anchor))
    );
    assert!(acts.contains(&Action::Bye { leg }));
    assert_eq!(r.view(call).extension, "1911");
    assert_eq!(r.view(call).transfers[0].kind, "replaces");
}

fn acd_tenant(strategy: QueueStrategy) -> Tenant {
    let mut t = Tenant::builtin();
    t.operators.clear();
    for id in ["opA", "opB"] {
        t.operators.insert(
            id.into(),
            Operator {
                password: "pw".into(),
                name: String::new(),
            },
        );
    }
    t.queues.insert(
        "support".into(),
        Queue {
            strategy,
            members: vec![],
            offer_timeout_ms: 1_000,
            timeout_ms: 5_000,
            overflow: Some(Target {
                ring_group: Some("sales".into()),
                ..Target::default()
            }),
            after_call_work_ms: 0,
            auto_answer: None,
        },
    );
    t
}

#[test]
fn queue_offers_longest_idle_operator_and_reroutes_on_no_answer() {
    let mut r = Rig::new(acd_tenant(QueueStrategy::LongestIdle));
    r.reg("1910", "sip:1910@h:1");
    r.reg("1911", "sip:1911@h:2");
    r.pbx.operator_login("opB", "pw", "1911", 0).expect("B");
    r.pbx.operator_login("opA", "pw", "1910", 10).expect("A");
    assert!(matches!(
        r.pbx.operator_login("opA", "bad", "1910", 10),
        Err(AcdError::BadPassword(_))
    ));
    r.drain();
    let (call, anchor) = r
        .pbx
        .place_call("0902", "0312345680", Some(sdp(9, 7000, "sendrecv")), 100)
        .expect("placed");
    let acts = r.drain();
    assert_eq!(
        acts[0],
        Action::Ring {
            leg: anchor,
            body: None
        },
        "queue ringback"
    );
    let inv = invites(&acts);
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].1, "sip:1911@h:2", "B idled longest");
    assert_eq!(r.view(call).queue.as_deref(), Some("support"));
    // B does not answer within 1 s: A gets it.
    r.now = 100;
    r.advance(1_000);
    let acts = r.drain();
    assert!(acts.contains(&Action::Cancel { leg: inv[0].0 }), "{acts:?}");
    let inv2 = invites(&acts);
    assert_eq!(inv2[0].1, "sip:1910@h:1");
    assert_eq!(
        r.pbx.operator("opB", r.now).map(|o| o.state),
        Some(crate::acd::OpState::NotAvailable)
    );
    r.pbx
        .leg_answered(inv2[0].0, Some(sdp(2, 5000, "sendrecv")), r.now);
    let acts = r.drain();
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Answer { leg, .. } if *leg == anchor))
    );
    let v = r.view(call);
    assert_eq!(
        (v.operator.as_deref(), v.extension.as_str()),
        (Some("opA"), "1910")
    );
    assert_eq!(
        r.pbx.operator("opA", r.now).map(|o| o.state),
        Some(crate::acd::OpState::Busy)
    );
    r.pbx.leg_ended(anchor, "bye", r.now + 10);
    r.drain();
    assert_eq!(
        r.pbx.operator("opA", r.now + 10).map(|o| o.state),
        Some(crate::acd::OpState::Available)
    );
    assert!(r.kinds().contains(&"queue_reroute"));
}

#[test]
fn queue_overflows_to_the_ring_group() {
    let mut r = Rig::new(acd_tenant(QueueStrategy::LongestIdle));
    r.reg("1303", "sip:1303@h:3");
    let (call, _) = r
        .pbx
        .place_call("0902", "0312345680", None, 0)
        .expect("placed");
    assert!(invites(&r.drain()).is_empty(), "nobody logged in");
    r.advance(5_000);
    let inv = invites(&r.drain());
    assert_eq!(
        inv.len(),
        1,
        "1303 of the sales group (1330 is not registered)"
    );
    assert_eq!(inv[0].1, "sip:1303@h:3");
    assert_eq!(r.view(call).target, "ring_group sales");
    assert!(r.kinds().contains(&"queue_overflow"));
}

#[test]
fn sequential_ring_group_hunts_on_timeout() {
    let mut t = Tenant::builtin();
    if let Some(g) = t.ring_groups.get_mut("sales") {
        g.strategy = RingStrategy::Sequential;
        g.ring_timeout_ms = 2_000;
    }
    let mut r = Rig::new(t);
    r.reg("1303", "sip:1303@h:3");
    r.reg("1330", "sip:1330@h:4");
    let (call, anchor) = r
        .pbx
        .place_call("0903", "0312345681", None, 0)
        .expect("placed");
    let first = invites(&r.drain());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, "sip:1303@h:3");
    r.advance(2_000);
    let acts = r.drain();
    assert!(acts.contains(&Action::Cancel { leg: first[0].0 }));
    let second = invites(&acts);
    assert_eq!(second[0].1, "sip:1330@h:4");
    r.advance(2_000);
    let acts = r.drain();
    assert!(
        acts.contains(&Action::Reject {
            leg: anchor,
            code: 480
        }),
        "{acts:?}"
    );
    assert_eq!(r.view(call).state, CallState::Ended);
}

#[test]
fn outgoing_call_with_a_caller_id_prefix() {
    let mut r = Rig::new(Tenant::builtin());
    let a = r.invite("1910", "700209012345678", "out");
    let call = r.pbx.call_of(a).expect("call");
    let acts = r.drain();
    let Some(Action::CallParty {
        leg,
        number,
        caller_id,
        body,
    }) = acts.first()
    else {
        panic!("{acts:?}")
    };
    assert_eq!(number, "09012345678");
    assert_eq!(caller_id, "0312345679");
    assert!(has(body, "10.0.0.1"));
    let v = r.view(call);
    assert_eq!(v.kind, CallKind::Outbound);
    assert_eq!(v.outside_line.as_deref(), Some("0312345679"));
    assert_eq!(v.extension, "1910");
    r.pbx.leg_answered(*leg, Some(sdp(8, 8000, "sendrecv")), 5);
    let acts = r.drain();
    assert!(acts.iter().any(
        |x| matches!(x, Action::Answer { leg, body, .. } if *leg == a && has(body, "10.0.0.8"))
    ));
    assert_eq!(r.view(call).talking_to.as_deref(), Some("09012345678"));
}

#[test]
fn campaign_connects_answered_parties_and_abandons_when_nobody_is_free() {
    let mut t = acd_tenant(QueueStrategy::LongestIdle);
    if let Some(c) = t.campaigns.get_mut("demo") {
        c.numbers = vec!["0800100001".into(), "0800100002".into()];
        c.initial_ratio = 2.0;
        c.abandon_after_ms = 1_000;
    }
    let mut r = Rig::new(t);
    r.reg("1910", "sip:1910@h:1");
    r.pbx.operator_login("opA", "pw", "1910", 0).expect("login");
    r.pbx.campaign_start("demo", 0).expect("start");
    let acts = r.drain();
    let dials: Vec<LegId> = acts
        .iter()
        .filter_map(|a| match a {
            Action::CallParty { leg, caller_id, .. } => {
                assert_eq!(caller_id, "0312345680");
                Some(*leg)
            }
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 2, "ratio 2 x 1 operator: {acts:?}");
    // Both answer; the operator gets the first, the second waits then abandons.
    r.pbx
        .leg_answered(dials[0], Some(sdp(5, 5000, "sendrecv")), 100);
    let offer = invites(&r.drain());
    assert_eq!(offer.len(), 1);
    assert_eq!(offer[0].2.from_user, "0800100001");
    assert!(
        offer[0]
            .2
            .headers
            .contains(&("X-BlueBean-Campaign".into(), "demo".into()))
    );
    r.pbx
        .leg_answered(dials[1], Some(sdp(6, 6000, "sendrecv")), 150);
    r.drain();
    r.pbx
        .leg_answered(offer[0].0, Some(sdp(2, 2000, "sendrecv")), 200);
    let acts = r.drain();
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::ReInvite { leg, .. } if *leg == dials[0])),
        "the party is re-pointed at the operator: {acts:?}"
    );
    r.now = 150;
    r.advance(1_000);
    let acts = r.drain();
    assert!(acts.contains(&Action::Bye { leg: dials[1] }), "{acts:?}");
    let c = r.pbx.campaign("demo").expect("campaign");
    assert_eq!(
        (
            c.counters.dialled,
            c.counters.answered,
            c.counters.connects,
            c.counters.abandons
        ),
        (2, 2, 1, 1)
    );
}

#[test]
fn reinvite_without_a_peer_is_answered_locally_and_unknown_legs_get_481() {
    let mut r = Rig::new(acd_tenant(QueueStrategy::LongestIdle));
    let a = r.invite("0455556666", "0312345680", "q");
    r.drain();
    r.pbx.reinvite(a, 3, Some(sdp(1, 4000, "sendonly")), 1);
    let acts = r.drain();
    assert!(
        matches!(
            &acts[..],
            [Action::Respond {
                code: 200,
                txn: 3,
                ..
            }]
        ),
        "{acts:?}"
    );
    r.pbx.reinvite(999, 4, None, 1);
    assert_eq!(
        r.drain(),
        vec![Action::Respond {
            leg: 999,
            txn: 4,
            code: 481,
            body: None,
            headers: Vec::new()
        }]
    );
}

#[test]
fn trunk_callers_reach_lines_only_and_can_be_switched_off() {
    let mut r = Rig::new(Tenant::builtin());
    let inv = InboundInvite {
        from_user: "0455556666".into(),
        from_name: None,
        dialled: "1910".into(),
        request_uri: "sip:1910@h".into(),
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey::default(),
        body: None,
        replaces: None,
        timer: TimerHeaders::default(),
    };
    assert!(matches!(
        r.pbx.incoming_invite(inv.clone(), 0),
        InviteDecision::Refuse { code: 404, .. }
    ));
    let mut t = Tenant::builtin();
    t.sip.trunk_calls = false;
    let mut r = Rig::new(t);
    let mut to_line = inv;
    to_line.dialled = "0312345678".into();
    assert!(matches!(
        r.pbx.incoming_invite(to_line, 0),
        InviteDecision::Refuse { code: 403, .. }
    ));
}

#[test]
fn ended_calls_are_pruned() {
    let mut r = Rig::new(Tenant::builtin());
    r.pbx.keep_ended_calls(2);
    r.reg("1910", "sip:1910@h:1");
    for _ in 0..5 {
        let (call, _) = r
            .pbx
            .place_call("0901", "0312345678", None, 0)
            .expect("placed");
        r.drain();
        assert!(r.pbx.hangup_call(call, 1));
    }
    assert_eq!(r.pbx.calls().len(), 2);
    assert!(!r.pbx.hangup_call(5, 2), "already ended");
}

#[test]
fn semi_attended_transfer_connects_the_caller_when_the_target_answers() {
    let mut r = Rig::new(Tenant::builtin());
    let (call1, anchor1, op_leg1) = answered_outside_call(&mut r, "1910", "0312345678");
    r.reg("1303", "sip:1303@h:3");
    let op_leg2 = r.invite("1910", "1303", "consult");
    let call2 = r.pbx.call_of(op_leg2).expect("call2");
    let target = invites(&r.drain())[0].0;
    r.pbx.leg_ringing(target, None, 21);
    r.drain();
    // Transfer completes while 1303 still rings.
    r.pbx.refer(
        op_leg1,
        9,
        ReferRequest {
            target: "1303".into(),
            replaces: Some(ReplacesRef {
                call_id: "cid-consult".into(),
                to_tag: "our-consult".into(),
                from_tag: "their-consult".into(),
            }),
        },
        30,
    );
    let acts = r.drain();
    assert!(acts.contains(&Action::Notify {
        leg: op_leg1,
        code: 200,
        terminated: true
    }));
    assert!(acts.contains(&Action::Bye { leg: op_leg1 }));
    assert!(acts.contains(&Action::Reject {
        leg: op_leg2,
        code: 487
    }));
    assert!(
        !acts.contains(&Action::Cancel { leg: target }),
        "the target keeps ringing"
    );
    assert_eq!(r.view(call2).merged_into, Some(call1));
    r.pbx
        .leg_answered(target, Some(sdp(3, 6000, "sendrecv")), 40);
    let acts = r.drain();
    let reinvited: Vec<LegId> = acts
        .iter()
        .filter_map(|a| match a {
            Action::ReInvite { leg, .. } => Some(*leg),
            _ => None,
        })
        .collect();
    assert_eq!(
        reinvited,
        vec![anchor1, target],
        "both sides get each other's SDP"
    );
    let v = r.view(call1);
    assert_eq!(
        (v.state, v.extension.as_str(), v.talking_to.as_deref()),
        (CallState::Answered, "1303", Some("1303"))
    );
    assert_eq!(v.transfers[0].kind, "attended");
    assert_eq!(v.transfers[0].outcome, "completed");
}

#[test]
fn semi_attended_transfer_to_a_target_that_fails_ends_the_call() {
    let mut r = Rig::new(Tenant::builtin());
    let (call1, anchor1, op_leg1) = answered_outside_call(&mut r, "1910", "0312345678");
    r.reg("1303", "sip:1303@h:3");
    let _ = r.invite("1910", "1303", "consult");
    let target = invites(&r.drain())[0].0;
    r.pbx.refer(
        op_leg1,
        9,
        ReferRequest {
            target: "1303".into(),
            replaces: ReplacesRef::parse("cid-consult;to-tag=our-consult;from-tag=their-consult"),
        },
        30,
    );
    r.drain();
    r.pbx.leg_failed(target, 486, 31);
    assert_eq!(r.drain(), vec![Action::Bye { leg: anchor1 }]);
    let v = r.view(call1);
    assert_eq!(v.end_reason.as_deref(), Some("transfer_failed"));
    assert_eq!(v.transfers[0].outcome, "failed 486");
}

// ----- early media and session timers --------------------------------------

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn timer_rig(settings: SessionTimerSettings) -> Rig {
    let mut r = Rig::new(Tenant::builtin());
    r.pbx
        .set_session_timer(settings, 0)
        .expect("valid settings");
    r
}

fn timers(
    interval: u32,
    refresher: SessionRefresher,
    refresh: SessionRefresh,
) -> SessionTimerSettings {
    SessionTimerSettings {
        session_expires: interval,
        refresher,
        refresh,
    }
}

/// An INVITE from `from` with these session-timer headers.
fn invite_with(
    r: &mut Rig,
    from: &str,
    to: &str,
    tag: &str,
    timer: TimerHeaders,
) -> InviteDecision {
    let inv = InboundInvite {
        from_user: from.into(),
        from_name: None,
        dialled: to.into(),
        request_uri: format!("sip:{to}@h"),
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey {
            call_id: format!("cid-{tag}"),
            local_tag: format!("our-{tag}"),
            remote_tag: format!("their-{tag}"),
        },
        body: Some(sdp(1, 4000, "sendrecv")),
        replaces: None,
        timer,
    };
    r.pbx.incoming_invite(inv, r.now)
}

fn supports(se: Option<&str>, update: bool) -> TimerHeaders {
    TimerHeaders {
        session_expires: se.map(str::to_string),
        supports_timer: true,
        allows_update: update,
    }
}

/// 1910 calls an outside number whose party answers at once: (call, the
/// extension's leg, the party's leg, the 200's headers).
fn answered_outgoing(
    r: &mut Rig,
    timer: TimerHeaders,
) -> (CallId, LegId, LegId, Vec<(String, String)>) {
    let InviteDecision::Accept(a) = invite_with(r, "1910", "0311112222", "out", timer) else {
        panic!("refused")
    };
    let call = r.pbx.call_of(a).expect("call");
    let acts = r.drain();
    let Some(Action::CallParty { leg: p, .. }) = acts.first() else {
        panic!("{acts:?}")
    };
    let p = *p;
    r.pbx.leg_answered(p, Some(sdp(8, 8000, "sendrecv")), r.now);
    let acts = r.drain();
    let headers = acts
        .iter()
        .find_map(|x| match x {
            Action::Answer { leg, headers, .. } if *leg == a => Some(headers.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no answer to the extension: {acts:?}"));
    (call, a, p, headers)
}

#[test]
fn early_media_is_relayed_as_183_and_the_200_repeats_its_sdp() {
    let mut r = Rig::new(Tenant::builtin());
    let a = r.invite("1910", "0311112222", "early");
    let call = r.pbx.call_of(a).expect("call");
    let acts = r.drain();
    let Some(Action::CallParty { leg: p, .. }) = acts.first() else {
        panic!("{acts:?}")
    };
    let p = *p;
    let party_sdp = sdp(8, 8000, "sendrecv");
    r.pbx.leg_ringing(p, Some(party_sdp.clone()), 10);
    let acts = r.drain();
    let [
        Action::Ring {
            leg,
            body: Some(early),
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(*leg, a);
    assert!(has(&Some(early.clone()), "c=IN IP4 10.0.0.8"));
    assert!(r.kinds().contains(&"early_media"));
    assert_eq!(r.view(call).state, CallState::Ringing);
    // The party answers 3 s later with the same SDP: the 200 carries the
    // 183's bytes, origin version included.
    r.pbx.leg_answered(p, Some(party_sdp), 3010);
    let acts = r.drain();
    let answer = acts
        .iter()
        .find_map(|x| match x {
            Action::Answer { leg, body, .. } if *leg == a => body.clone(),
            _ => None,
        })
        .expect("200 to the extension");
    assert_eq!(&answer, early, "the 200 repeats the 183's SDP");
    assert_eq!(r.view(call).state, CallState::Answered);
}

#[test]
fn a_183_after_a_180_still_brings_early_media_and_a_changed_answer_is_new() {
    let mut r = Rig::new(Tenant::builtin());
    let a = r.invite("1910", "0311112222", "early2");
    let acts = r.drain();
    let Some(Action::CallParty { leg: p, .. }) = acts.first() else {
        panic!("{acts:?}")
    };
    let p = *p;
    r.pbx.leg_ringing(p, None, 10);
    assert_eq!(r.drain(), vec![Action::Ring { leg: a, body: None }]);
    r.pbx.leg_ringing(p, Some(sdp(8, 8000, "sendrecv")), 20);
    let acts = r.drain();
    let [
        Action::Ring {
            body: Some(early), ..
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    let early = early.clone();
    // Only the first early SDP goes out.
    r.pbx.leg_ringing(p, Some(sdp(8, 8002, "sendrecv")), 30);
    assert!(r.drain().is_empty());
    r.pbx.leg_answered(p, Some(sdp(8, 8004, "sendrecv")), 40);
    let acts = r.drain();
    let answer = acts
        .iter()
        .find_map(|x| match x {
            Action::Answer { leg, body, .. } if *leg == a => body.clone(),
            _ => None,
        })
        .expect("200");
    assert_ne!(answer, early);
    assert!(has(&Some(answer), "m=audio 8004"));
}

#[test]
fn settings_below_the_rfc_minimum_are_refused() {
    let mut r = Rig::new(Tenant::builtin());
    let err = r
        .pbx
        .set_session_timer(
            timers(89, SessionRefresher::Extension, SessionRefresh::Normal),
            0,
        )
        .expect_err("89 s is too small");
    assert!(err.contains("89 s") && err.contains("90"), "{err}");
    assert!(
        r.pbx
            .set_session_timer(SessionTimerSettings::default(), 0)
            .is_ok()
    );
}

#[test]
fn no_session_timer_headers_when_off() {
    let mut r = Rig::new(Tenant::builtin());
    let (call, a, _, headers) = answered_outgoing(&mut r, supports(Some("90"), true));
    assert!(headers.is_empty(), "{headers:?}");
    r.advance(3_600_000);
    assert_eq!(r.view(call).state, CallState::Answered);
    // A refresh with a garbage Session-Expires is just a re-INVITE here.
    r.pbx.in_dialog(
        a,
        7,
        InDialogRequest {
            update: true,
            body: None,
            timer: supports(Some("soon"), false),
        },
        r.now,
    );
    let acts = r.drain();
    assert!(
        matches!(
            &acts[..],
            [Action::Respond {
                code: 200,
                txn: 7,
                ..
            }]
        ),
        "{acts:?}"
    );
}

#[test]
fn the_extension_refreshes_and_the_session_lives_past_the_interval() {
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Extension,
        SessionRefresh::Normal,
    ));
    let (call, a, _, headers) = answered_outgoing(&mut r, supports(None, true));
    assert_eq!(
        header(&headers, "Session-Expires"),
        Some("90;refresher=uac")
    );
    assert_eq!(header(&headers, "Require"), Some("timer"));
    assert!(header(&headers, "Allow").is_some_and(|v| v.contains("UPDATE")));
    // The phone refreshes with a bare UPDATE at half the interval.
    r.advance(45_000);
    r.pbx.in_dialog(
        a,
        1,
        InDialogRequest {
            update: true,
            body: None,
            timer: supports(Some("90;refresher=uac"), false),
        },
        r.now,
    );
    let acts = r.drain();
    let [
        Action::Respond {
            code: 200,
            headers,
            body: None,
            ..
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(header(headers, "Session-Expires"), Some("90;refresher=uac"));
    // Past the interval since the answer, and past the expiry (60 s) of the
    // first refresh window: still up.
    r.advance(50_000);
    let v = r.view(call);
    assert_eq!(v.state, CallState::Answered);
    assert_eq!(v.session_refreshes, 1);
    let st = v.legs[0].session_timer.clone().expect("a session timer");
    assert_eq!((st.interval_s, st.refresher), (90, "peer"));
    // A re-INVITE with SDP refreshes too (and is answered with SDP).
    r.pbx.in_dialog(
        a,
        2,
        InDialogRequest {
            update: false,
            body: Some(sdp(1, 4000, "sendrecv")),
            timer: supports(Some("90;refresher=uac"), false),
        },
        r.now,
    );
    let acts = r.drain();
    // Relayed to the party as a re-INVITE; its answer completes the refresh.
    let Some(Action::ReInvite { leg, req, .. }) = acts.first() else {
        panic!("{acts:?}")
    };
    r.pbx
        .reinvite_done(*leg, *req, 200, Some(sdp(8, 8000, "sendrecv")), r.now);
    let acts = r.drain();
    let [
        Action::Respond {
            code: 200,
            headers,
            body: Some(_),
            ..
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert!(header(headers, "Session-Expires").is_some());
    assert_eq!(r.view(call).session_refreshes, 2);
}

#[test]
fn a_missing_refresh_ends_the_call_with_bye_at_expiry() {
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Extension,
        SessionRefresh::Normal,
    ));
    let (call, a, p, _) = answered_outgoing(&mut r, supports(None, true));
    r.advance(59_999);
    assert!(r.drain().is_empty());
    assert_eq!(r.view(call).state, CallState::Answered);
    r.advance(1);
    let acts = r.drain();
    assert!(acts.contains(&Action::Bye { leg: a }), "{acts:?}");
    assert!(acts.contains(&Action::Bye { leg: p }), "{acts:?}");
    let v = r.view(call);
    assert_eq!(
        (v.state, v.end_reason.as_deref()),
        (CallState::Ended, Some("session_expired"))
    );
    assert!(r.kinds().contains(&"session_expired"));
}

#[test]
fn a_uac_without_timer_support_gets_the_simulator_as_refresher() {
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Extension,
        SessionRefresh::Normal,
    ));
    let (_, a, _, headers) = answered_outgoing(&mut r, TimerHeaders::default());
    assert_eq!(
        header(&headers, "Session-Expires"),
        Some("90;refresher=uas")
    );
    assert_eq!(header(&headers, "Require"), None);
    r.advance(45_000);
    let acts = r.drain();
    // No UPDATE in its Allow: a re-INVITE with our last SDP.
    let [
        Action::Refresh {
            leg,
            req,
            update: false,
            body: Some(_),
            headers,
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(*leg, a);
    assert_eq!(header(headers, "Session-Expires"), Some("90;refresher=uac"));
    let req = *req;
    r.pbx.refresh_done(a, req, 200, None, r.now);
    let v = r.pbx.call(r.pbx.call_of(a).expect("call")).expect("view");
    assert_eq!(v.session_refreshes_sent, 1);
    assert_eq!(v.state, CallState::Answered);
}

#[test]
fn the_simulator_refreshes_the_extension_it_called_unless_told_never() {
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Simulator,
        SessionRefresh::Normal,
    ));
    r.reg("1910", "sip:1910@h:1");
    let (call, _) = r
        .pbx
        .place_call(
            "09011112222",
            "0312345678",
            Some(sdp(9, 7000, "sendrecv")),
            0,
        )
        .expect("placed");
    let acts = r.drain();
    let Some(Action::Invite { leg, headers, .. }) = acts.first() else {
        panic!("{acts:?}")
    };
    let leg = *leg;
    assert_eq!(header(headers, "Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(header(headers, "Supported"), Some("timer"));
    assert_eq!(header(headers, "Min-SE"), Some("90"));
    r.pbx
        .leg_session(leg, supports(Some("90;refresher=uac"), true));
    r.pbx.leg_answered(leg, Some(sdp(2, 5000, "sendrecv")), 0);
    r.drain();
    r.advance(45_000);
    let acts = r.drain();
    let [
        Action::Refresh {
            update: true,
            body: None,
            req,
            ..
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    let req = *req;
    // The answer to our refresh restarts the timer; a failure ends the call.
    r.pbx.refresh_done(leg, req, 200, None, r.now);
    assert_eq!(r.view(call).session_refreshes_sent, 1);
    r.advance(45_000);
    let acts = r.drain();
    let [Action::Refresh { req, .. }] = &acts[..] else {
        panic!("{acts:?}")
    };
    let req = *req;
    r.pbx.refresh_done(leg, req, 481, None, r.now);
    let v = r.view(call);
    assert_eq!(
        (v.state, v.end_reason.as_deref()),
        (CallState::Ended, Some("session_refresh_failed"))
    );

    // "never": the simulator stays silent; the phone must end the call.
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Simulator,
        SessionRefresh::Never,
    ));
    let (call, _, leg) = {
        r.reg("1910", "sip:1910@h:1");
        let (call, anchor) = r
            .pbx
            .place_call(
                "09011112222",
                "0312345678",
                Some(sdp(9, 7000, "sendrecv")),
                0,
            )
            .expect("placed");
        let leg = invites(&r.drain())[0].0;
        (call, anchor, leg)
    };
    r.pbx
        .leg_session(leg, supports(Some("90;refresher=uac"), true));
    r.pbx.leg_answered(leg, Some(sdp(2, 5000, "sendrecv")), 0);
    r.drain();
    r.advance(600_000);
    assert!(r.drain().is_empty());
    assert_eq!(r.view(call).state, CallState::Answered);
    assert_eq!(r.view(call).session_refreshes_sent, 0);
    // Told to refresh again: it does, from now on.
    r.pbx
        .set_session_timer(
            timers(90, SessionRefresher::Simulator, SessionRefresh::Normal),
            r.now,
        )
        .expect("valid");
    r.advance(45_000);
    assert!(
        matches!(&r.drain()[..], [Action::Refresh { leg: l, .. }] if *l == leg),
        "a refresh 45 s after refreshing was switched back on"
    );
}

#[test]
fn the_refresher_parameter_of_a_refresh_names_that_transactions_roles() {
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Extension,
        SessionRefresh::Normal,
    ));
    let (call, a, _, _) = answered_outgoing(&mut r, supports(None, true));
    // The phone's refresh says `uas`: the simulator (the UAS of the UPDATE)
    // refreshes from now on (RFC 4028 section 9).
    r.advance(10_000);
    r.pbx.in_dialog(
        a,
        3,
        InDialogRequest {
            update: true,
            body: None,
            timer: supports(Some("120;refresher=uas"), false),
        },
        r.now,
    );
    let acts = r.drain();
    let [
        Action::Respond {
            code: 200, headers, ..
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(
        header(headers, "Session-Expires"),
        Some("120;refresher=uas")
    );
    let st = r.view(call).legs[0].session_timer.clone().expect("timer");
    assert_eq!((st.interval_s, st.refresher), (120, "simulator"));
    r.advance(60_000);
    assert!(matches!(&r.drain()[..], [Action::Refresh { .. }]));
}

#[test]
fn bad_session_expires_values_get_clean_answers() {
    let mut r = timer_rig(timers(
        90,
        SessionRefresher::Extension,
        SessionRefresh::Normal,
    ));
    // On a new INVITE: not a number → 400; below Min-SE from a UAC that
    // can retry → 422; from one that cannot → raised to 90.
    let d = invite_with(
        &mut r,
        "1910",
        "0311112222",
        "bad1",
        supports(Some("soon"), true),
    );
    assert!(
        matches!(&d, InviteDecision::Refuse { code: 400, reason } if reason.contains("'soon'")),
        "{d:?}"
    );
    let d = invite_with(
        &mut r,
        "1910",
        "0311112222",
        "bad2",
        supports(Some("30"), true),
    );
    assert_eq!(d, InviteDecision::TooSmall { min_se: 90 });
    let d = invite_with(
        &mut r,
        "1910",
        "0311112222",
        "bad3",
        TimerHeaders {
            session_expires: Some("30".into()),
            ..TimerHeaders::default()
        },
    );
    assert!(matches!(d, InviteDecision::Accept(_)), "{d:?}");
    r.drain();
    // In a dialog.
    let (call, a, _, _) = answered_outgoing(&mut r, supports(None, true));
    for (txn, value) in [
        (10, "soon"),
        (11, "-5"),
        (12, "\u{7}90;refresher=uac"),
        (13, ""),
    ] {
        r.pbx.in_dialog(
            a,
            txn,
            InDialogRequest {
                update: true,
                body: None,
                timer: supports(Some(value), false),
            },
            r.now,
        );
        let acts = r.drain();
        let [
            Action::Respond {
                code: 400, headers, ..
            },
        ] = &acts[..]
        else {
            panic!("{value:?}: {acts:?}")
        };
        let w = header(headers, "Warning").expect("a Warning");
        assert!(
            w.starts_with("399 bluebean-sim \"") && !w.contains('\u{7}'),
            "{w}"
        );
    }
    r.pbx.in_dialog(
        a,
        20,
        InDialogRequest {
            update: true,
            body: None,
            timer: supports(Some("89"), false),
        },
        r.now,
    );
    let acts = r.drain();
    let [
        Action::Respond {
            code: 422, headers, ..
        },
    ] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(header(headers, "Min-SE"), Some("90"));
    // None of them counted as a refresh; the call is untouched.
    let v = r.view(call);
    assert_eq!((v.state, v.session_refreshes), (CallState::Answered, 0));
    // A refresh on a leg that is gone: 481.
    r.pbx.in_dialog(999, 30, InDialogRequest::default(), r.now);
    assert!(matches!(
        &r.drain()[..],
        [Action::Respond { code: 481, .. }]
    ));
}

#[test]
fn timer_headers_are_read_in_long_and_compact_forms() {
    let t = TimerHeaders::from_headers([
        ("x", "1800;refresher=uas"),
        ("k", "100rel, Timer"),
        ("Allow", "INVITE, ACK, update"),
    ]);
    assert_eq!(t.session_expires.as_deref(), Some("1800;refresher=uas"));
    assert!(t.supports_timer && t.allows_update);
    let t = TimerHeaders::from_headers([("Supported", "timers"), ("Allow", "INVITE")]);
    assert_eq!(t, TimerHeaders::default());
}
