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
            authorization: None,
            source: "127.0.0.1".parse().expect("ip"),
            dialog: DialogKey {
                call_id: format!("cid-{tag}"),
                local_tag: format!("our-{tag}"),
                remote_tag: format!("their-{tag}"),
            },
            body: Some(sdp(1, 4000, "sendrecv")),
            replaces: None,
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
            |a| matches!(a, Action::Answer { leg, body } if *leg == anchor && has(body, "10.0.0.2"))
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
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey::default(),
        body: Some(sdp(1, 4000, "sendrecv")),
        replaces: None,
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
        matches!(&acts[..], [Action::Respond { leg: l, txn: 77, code: 200, body }] if *l == leg && has(body, "a=recvonly")),
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
                body: None
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
        body: None
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
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey {
            call_id: "pickup".into(),
            local_tag: "t1".into(),
            remote_tag: "t2".into(),
        },
        body: Some(sdp(4, 4444, "sendrecv")),
        replaces: ReplacesRef::parse(&format!("c{call};to-tag=phone;from-tag=sim")),
    };
    let InviteDecision::Accept(new) = r.pbx.incoming_invite(inv, 10) else {
        panic!("refused")
    };
    let acts = r.drain();
    assert!(acts.iter().any(
        |a| matches!(a, Action::Answer { leg, body } if *leg == new && has(body, "10.0.0.9"))
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
    assert!(
        acts.iter().any(
            |x| matches!(x, Action::Answer { leg, body } if *leg == a && has(body, "10.0.0.8"))
        )
    );
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
            body: None
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
        authorization: None,
        source: "127.0.0.1".parse().expect("ip"),
        dialog: DialogKey::default(),
        body: None,
        replaces: None,
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
