use super::*;

fn drain(p: &mut Phone) -> Vec<Action> {
    std::iter::from_fn(|| p.poll_action()).collect()
}

fn incoming(key: CallKey) -> Input {
    Input::Incoming {
        key,
        facts: IncomingFacts {
            call_id: format!("c{key}"),
            from_user: Some("09012345678".into()),
            ..Default::default()
        },
        replaces: None,
    }
}

/// An answered incoming call with key 1.
fn talking() -> Phone {
    let mut p = Phone::default();
    p.handle_input(incoming(1), 0);
    p.handle_command(Command::Answer, 1).expect("a call rings");
    p.handle_input(Input::Confirmed { key: 1 }, 2);
    drain(&mut p);
    p
}

fn invite_key(actions: &[Action]) -> CallKey {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Invite { key, .. } => Some(*key),
            _ => None,
        })
        .expect("an INVITE")
}

#[test]
fn ring_answer_remote_hangup() {
    let mut p = Phone::default();
    p.handle_input(incoming(1), 0);
    let a = drain(&mut p);
    assert_eq!(a[0], Action::Ring(1));
    assert!(matches!(
        a[1],
        Action::Event(PhoneEvent::Ringing { key: 1, .. })
    ));
    p.handle_command(Command::Answer, 100)
        .expect("a call rings");
    assert_eq!(drain(&mut p), vec![Action::Accept(1)]);
    p.handle_input(Input::Confirmed { key: 1 }, 150);
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::Answered { key: 1, .. })]
    ));
    p.handle_input(
        Input::Ended {
            key: 1,
            cause: EndCause::RemoteHangup,
        },
        5150,
    );
    assert_eq!(
        drain(&mut p),
        vec![Action::Event(PhoneEvent::HungUp {
            key: 1,
            call_id: "c1".into(),
            direction: Direction::Incoming,
            cause: EndCause::RemoteHangup,
            duration_ms: 5000
        })]
    );
    assert_eq!(p.call_count(), 0);
}

#[test]
fn caller_gives_up_while_ringing() {
    let mut p = Phone::default();
    p.handle_input(incoming(1), 0);
    drain(&mut p);
    p.handle_input(
        Input::Ended {
            key: 1,
            cause: EndCause::RemoteHangup,
        },
        10,
    );
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::HungUp {
            cause: EndCause::CallerCancelled,
            duration_ms: 0,
            ..
        })]
    ));
}

#[test]
fn commands_without_calls_say_why() {
    let mut p = Phone::default();
    assert_eq!(
        p.handle_command(Command::Answer, 0),
        Err(CommandError::NothingRinging)
    );
    assert_eq!(
        p.handle_command(Command::Hangup, 0),
        Err(CommandError::NoCall)
    );
    assert_eq!(
        p.handle_command(Command::Hold, 0),
        Err(CommandError::NoActiveCall("hold"))
    );
    assert_eq!(
        p.handle_command(Command::Unhold, 0),
        Err(CommandError::NothingHeld)
    );
    assert_eq!(
        p.handle_command(Command::TransferComplete, 0),
        Err(CommandError::NoTransfer)
    );
    assert_eq!(
        p.handle_command(Command::BlindTransfer("1303".into()), 0),
        Err(CommandError::NoActiveCall("transfer"))
    );
    assert!(drain(&mut p).is_empty());
}

#[test]
fn outgoing_call_answered_then_busy_target() {
    let mut p = Phone::default();
    p.handle_command(Command::Call("1330".into()), 0)
        .expect("idle phone dials");
    let a = drain(&mut p);
    let key = invite_key(&a);
    assert!(key >= PHONE_KEYS);
    p.handle_input(
        Input::Progress {
            key,
            code: 180,
            early_media: false,
        },
        1,
    );
    p.handle_input(
        Input::Answered {
            key,
            call_id: "out1".into(),
        },
        2,
    );
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::Answered {
            direction: Direction::Outgoing,
            ..
        })]
    ));
    assert_eq!(
        p.handle_command(Command::Call("1331".into()), 3),
        Err(CommandError::Busy)
    );
    p.handle_command(Command::Hangup, 10).expect("live call");
    assert_eq!(drain(&mut p)[0], Action::Bye(key));

    p.handle_command(Command::Call("1303".into()), 20)
        .expect("idle again");
    let key = invite_key(&drain(&mut p));
    p.handle_input(Input::Failed { key, code: 486 }, 21);
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::HungUp {
            cause: EndCause::Busy,
            ..
        })]
    ));
}

#[test]
fn hangup_while_dialing_cancels() {
    let mut p = Phone::default();
    p.handle_command(Command::Call("1330".into()), 0)
        .expect("dials");
    let key = invite_key(&drain(&mut p));
    p.handle_command(Command::Hangup, 1)
        .expect("a call is dialling");
    assert_eq!(drain(&mut p)[0], Action::Cancel(key));
}

#[test]
fn hold_and_unhold_wait_for_the_peer() {
    let mut p = talking();
    p.handle_command(Command::Hold, 3).expect("active call");
    assert_eq!(drain(&mut p), vec![Action::Hold { key: 1, hold: true }]);
    assert_eq!(
        p.handle_command(Command::Hold, 4),
        Err(CommandError::NoActiveCall("hold"))
    );
    p.handle_input(Input::HoldResult { key: 1, ok: true }, 5);
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::Held { key: 1, .. })]
    ));
    p.handle_command(Command::Unhold, 6).expect("held call");
    assert_eq!(
        drain(&mut p),
        vec![Action::Hold {
            key: 1,
            hold: false
        }]
    );
    p.handle_input(Input::HoldResult { key: 1, ok: true }, 7);
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::Unheld { key: 1, .. })]
    ));
}

#[test]
fn refused_hold_leaves_the_call_active() {
    let mut p = talking();
    p.handle_command(Command::Hold, 3).expect("active");
    drain(&mut p);
    p.handle_input(Input::HoldResult { key: 1, ok: false }, 4);
    assert!(drain(&mut p).is_empty());
    p.handle_command(Command::Hold, 5)
        .expect("still active, can try again");
}

#[test]
fn blind_transfer_succeeds_on_notify_200() {
    let mut p = talking();
    p.handle_command(Command::BlindTransfer("1303".into()), 3)
        .expect("active");
    assert_eq!(
        drain(&mut p),
        vec![Action::Refer {
            key: 1,
            number: "1303".into(),
            replaces: None
        }]
    );
    p.handle_input(
        Input::ReferStatus {
            key: 1,
            code: 202,
            last: false,
        },
        4,
    );
    p.handle_input(
        Input::ReferStatus {
            key: 1,
            code: 100,
            last: false,
        },
        5,
    );
    assert!(drain(&mut p).is_empty());
    p.handle_input(
        Input::ReferStatus {
            key: 1,
            code: 200,
            last: true,
        },
        6,
    );
    let a = drain(&mut p);
    assert!(
        matches!(&a[0], Action::Event(PhoneEvent::Transferred { target, .. }) if target == "1303")
    );
    assert_eq!(a[1], Action::Bye(1));
    assert!(matches!(
        a[2],
        Action::Event(PhoneEvent::HungUp {
            cause: EndCause::Transferred,
            ..
        })
    ));
    assert_eq!(p.call_count(), 0);
}

#[test]
fn blind_transfer_failure_keeps_the_call() {
    let mut p = talking();
    p.handle_command(Command::BlindTransfer("1303".into()), 3)
        .expect("active");
    drain(&mut p);
    p.handle_input(
        Input::ReferStatus {
            key: 1,
            code: 486,
            last: true,
        },
        4,
    );
    assert!(matches!(
        &drain(&mut p)[..],
        [Action::Event(PhoneEvent::TransferFailed { .. })]
    ));
    assert_eq!(p.call_count(), 1);
    p.handle_command(Command::Hangup, 5)
        .expect("the call is still there");
    assert_eq!(drain(&mut p)[0], Action::Bye(1));
}

#[test]
fn attended_transfer_refers_with_replaces() {
    let mut p = talking();
    p.handle_command(Command::Transfer("1303".into()), 3)
        .expect("active");
    let a = drain(&mut p);
    assert_eq!(
        a,
        vec![Action::Hold { key: 1, hold: true }],
        "no call before the hold holds"
    );
    p.handle_input(Input::HoldResult { key: 1, ok: true }, 4);
    let consult = invite_key(&drain(&mut p));
    p.handle_input(
        Input::Answered {
            key: consult,
            call_id: "consult".into(),
        },
        5,
    );
    drain(&mut p);
    p.handle_command(Command::TransferComplete, 6)
        .expect("consultation up");
    assert_eq!(
        drain(&mut p),
        vec![Action::Refer {
            key: 1,
            number: "1303".into(),
            replaces: Some(consult)
        }]
    );
    p.handle_input(
        Input::ReferStatus {
            key: 1,
            code: 200,
            last: true,
        },
        7,
    );
    let a = drain(&mut p);
    assert!(a.contains(&Action::Bye(1)));
    assert!(a.contains(&Action::Bye(consult)));
    assert_eq!(p.call_count(), 0);
}

#[test]
fn hanging_up_the_consultation_returns_to_the_held_call() {
    let mut p = talking();
    p.handle_command(Command::Transfer("1303".into()), 3)
        .expect("active");
    drain(&mut p);
    p.handle_input(Input::HoldResult { key: 1, ok: true }, 4);
    let consult = invite_key(&drain(&mut p));
    p.handle_input(
        Input::Answered {
            key: consult,
            call_id: "consult".into(),
        },
        5,
    );
    drain(&mut p);
    p.handle_command(Command::Hangup, 6).expect("consultation");
    assert_eq!(drain(&mut p)[0], Action::Bye(consult));
    assert_eq!(p.call_count(), 1);
    p.handle_command(Command::Unhold, 7)
        .expect("the held call is back");
    assert_eq!(
        drain(&mut p),
        vec![Action::Hold {
            key: 1,
            hold: false
        }]
    );
}

#[test]
fn transfer_fails_cleanly_when_the_hold_is_refused() {
    let mut p = talking();
    p.handle_command(Command::Transfer("1303".into()), 3)
        .expect("active");
    drain(&mut p);
    p.handle_input(Input::HoldResult { key: 1, ok: false }, 4);
    let a = drain(&mut p);
    assert!(
        matches!(&a[..], [Action::Event(PhoneEvent::TransferFailed { target, .. })] if target == "1303")
    );
    assert_eq!(p.call_count(), 1);
}

#[test]
fn transferee_calls_the_target_and_reports() {
    let mut p = talking();
    p.handle_input(
        Input::ReferRequest {
            key: 1,
            number: "1303".into(),
            replaces: None,
        },
        3,
    );
    let a = drain(&mut p);
    let new_call = invite_key(&a);
    assert!(a.contains(&Action::NotifyRefer {
        key: 1,
        code: 100,
        last: false
    }));
    p.handle_input(
        Input::Answered {
            key: new_call,
            call_id: "n".into(),
        },
        4,
    );
    assert!(drain(&mut p).contains(&Action::NotifyRefer {
        key: 1,
        code: 200,
        last: true
    }));
    // The transferor hangs up the old call.
    p.handle_input(
        Input::Ended {
            key: 1,
            cause: EndCause::RemoteHangup,
        },
        5,
    );
    drain(&mut p);
    assert_eq!(p.call_count(), 1);
}

#[test]
fn invite_with_replaces_takes_over_the_old_call() {
    let mut p = talking();
    p.handle_input(
        Input::Incoming {
            key: 2,
            facts: IncomingFacts {
                call_id: "c2".into(),
                ..Default::default()
            },
            replaces: Some(1),
        },
        3,
    );
    let a = drain(&mut p);
    assert_eq!(a[0], Action::Accept(2));
    assert_eq!(a[1], Action::Bye(1));
    p.handle_input(Input::Confirmed { key: 2 }, 4);
    assert!(matches!(
        drain(&mut p)[..],
        [Action::Event(PhoneEvent::Answered { key: 2, .. })]
    ));
}

#[test]
fn second_call_rings_or_is_busy_as_configured() {
    let mut p = talking();
    p.handle_input(incoming(2), 3);
    assert_eq!(drain(&mut p)[0], Action::Ring(2));
    // Answering it holds the first.
    p.handle_command(Command::Answer, 4).expect("rings");
    assert_eq!(
        drain(&mut p),
        vec![Action::Hold { key: 1, hold: true }, Action::Accept(2)]
    );

    let mut busy = Phone::new(PhoneConfig {
        ring_second_call: false,
        ..PhoneConfig::default()
    });
    busy.handle_input(incoming(1), 0);
    busy.handle_command(Command::Answer, 1).expect("rings");
    busy.handle_input(Input::Confirmed { key: 1 }, 2);
    drain(&mut busy);
    busy.handle_input(incoming(2), 3);
    assert_eq!(drain(&mut busy), vec![Action::Reject(2, 486)]);
}

#[test]
fn at_most_max_ringing_calls_ring_and_the_next_is_busy() {
    let mut p = Phone::new(PhoneConfig {
        max_ringing: 2,
        ..PhoneConfig::default()
    });
    p.handle_input(incoming(1), 0);
    p.handle_input(incoming(2), 0);
    drain(&mut p);
    p.handle_input(incoming(3), 0);
    assert_eq!(drain(&mut p), vec![Action::Reject(3, 486)]);
    assert_eq!(p.call_count(), 2);
}

#[test]
fn a_call_nobody_answers_ends_at_the_ring_time_limit() {
    let mut p = Phone::new(PhoneConfig {
        ring_timeout: Some(30_000),
        ..PhoneConfig::default()
    });
    p.handle_input(incoming(1), 1_000);
    p.handle_input(incoming(2), 5_000);
    assert_eq!(p.poll_timeout(), Some(31_000));
    drain(&mut p);
    p.handle_timeout(30_999);
    assert!(drain(&mut p).is_empty());
    p.handle_timeout(31_000);
    let actions = drain(&mut p);
    assert_eq!(actions.first(), Some(&Action::Reject(1, 480)));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Event(PhoneEvent::HungUp {
            cause: EndCause::NotAnswered,
            ..
        })
    )));
    assert_eq!(p.poll_timeout(), Some(35_000));
    // Answered calls have no ring time limit.
    p.handle_command(Command::Answer, 6_000).ok();
    assert_eq!(p.poll_timeout(), None);
    let mut never = Phone::new(PhoneConfig {
        ring_timeout: None,
        ..PhoneConfig::default()
    });
    never.handle_input(incoming(1), 0);
    assert_eq!(never.poll_timeout(), None);
}

fn asking(key: CallKey, after: Option<Millis>) -> Input {
    Input::Incoming {
        key,
        facts: IncomingFacts {
            call_id: format!("c{key}"),
            from_user: Some("09012345678".into()),
            answer_after_ms: after,
            ..Default::default()
        },
        replaces: None,
    }
}

fn auto(mode: AutoAnswer, delay: Millis) -> Phone {
    Phone::new(PhoneConfig {
        auto_answer: mode,
        auto_answer_delay: delay,
        ring_timeout: None,
        ..PhoneConfig::default()
    })
}

#[test]
fn auto_answer_rings_first_then_answers_when_its_time_comes() {
    let mut p = auto(AutoAnswer::Always, 500);
    p.handle_input(asking(1, None), 1_000);
    let rang = drain(&mut p);
    assert_eq!(rang.first(), Some(&Action::Ring(1)));
    assert_eq!(p.poll_timeout(), Some(1_500));
    p.handle_timeout(1_499);
    assert!(drain(&mut p).is_empty());
    p.handle_timeout(1_500);
    assert_eq!(drain(&mut p), vec![Action::Accept(1)]);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn server_auto_answer_follows_the_invite_and_off_never_answers() {
    let mut p = auto(AutoAnswer::Server, 0);
    p.handle_input(asking(1, None), 0);
    drain(&mut p);
    assert_eq!(p.poll_timeout(), None, "no header: the call just rings");
    p.handle_input(asking(2, Some(2_000)), 10);
    drain(&mut p);
    assert_eq!(p.poll_timeout(), Some(2_010));
    p.handle_timeout(2_010);
    assert_eq!(drain(&mut p), vec![Action::Accept(2)]);

    let mut off = auto(AutoAnswer::Off, 0);
    off.handle_input(asking(1, Some(0)), 0);
    drain(&mut off);
    assert_eq!(off.poll_timeout(), None);
}

#[test]
fn auto_answer_never_takes_a_second_call_over_a_connected_one() {
    let mut p = auto(AutoAnswer::Always, 0);
    p.handle_input(asking(1, None), 0);
    p.handle_timeout(0);
    p.handle_input(Input::Confirmed { key: 1 }, 1);
    drain(&mut p);
    p.handle_input(asking(2, Some(0)), 5);
    drain(&mut p);
    assert_eq!(p.poll_timeout(), None);
    p.handle_timeout(5);
    assert!(drain(&mut p).is_empty());
}

#[test]
fn mute_acts_on_the_active_call_once_and_ends_with_it() {
    assert_eq!(
        Phone::default().handle_command(Command::Mute(true), 0),
        Err(CommandError::NoActiveCall("mute"))
    );
    let mut p = talking();
    p.handle_command(Command::Mute(true), 10).expect("a call");
    assert_eq!(
        drain(&mut p),
        vec![
            Action::Mute {
                key: 1,
                muted: true
            },
            Action::Event(PhoneEvent::Muted {
                key: 1,
                call_id: "c1".into(),
                muted: true
            })
        ]
    );
    assert!(p.muted(1));
    // Asking again changes nothing and says nothing.
    p.handle_command(Command::Mute(true), 11).expect("a call");
    assert!(drain(&mut p).is_empty());
    p.handle_command(Command::Mute(false), 12).expect("a call");
    assert!(matches!(
        drain(&mut p)[..],
        [
            Action::Mute { muted: false, .. },
            Action::Event(PhoneEvent::Muted { muted: false, .. })
        ]
    ));
    // A held call is not the active one.
    p.handle_command(Command::Hold, 13).expect("a call");
    p.handle_input(Input::HoldResult { key: 1, ok: true }, 14);
    drain(&mut p);
    assert_eq!(
        p.handle_command(Command::Mute(true), 15),
        Err(CommandError::NoActiveCall("mute"))
    );
}

#[test]
fn do_not_disturb_turns_new_calls_away_but_not_a_transfer_replacing_ours() {
    let mut p = Phone::new(PhoneConfig {
        dnd_status: 603,
        ..PhoneConfig::default()
    });
    p.handle_command(Command::Dnd(true), 0).expect("always");
    assert_eq!(
        drain(&mut p),
        vec![Action::Event(PhoneEvent::Dnd { on: true })]
    );
    assert!(p.dnd());
    p.handle_command(Command::Dnd(true), 1).expect("always");
    assert!(drain(&mut p).is_empty(), "no second event");
    p.handle_input(incoming(1), 2);
    assert_eq!(drain(&mut p), vec![Action::Reject(1, 603)]);
    assert_eq!(p.call_count(), 0);
    p.handle_command(Command::Dnd(false), 3).expect("always");
    drain(&mut p);
    p.handle_input(incoming(2), 4);
    assert_eq!(drain(&mut p)[0], Action::Ring(2));
    // Talking on call 2, DND on: a Replaces for call 2 still goes through.
    p.handle_command(Command::Answer, 5).expect("rings");
    p.handle_input(Input::Confirmed { key: 2 }, 6);
    p.handle_command(Command::Dnd(true), 7).expect("always");
    drain(&mut p);
    p.handle_input(
        Input::Incoming {
            key: 3,
            facts: IncomingFacts {
                call_id: "c3".into(),
                ..Default::default()
            },
            replaces: Some(2),
        },
        8,
    );
    assert_eq!(drain(&mut p)[0], Action::Accept(3));
}
