//! Tests of the control socket's server end (`server.rs`).

use super::*;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;

use crate::control::transport::bind;

use bb_verbs::wire::RegistrationState;
use tokio::io::Lines;
use tokio::net::unix::OwnedWriteHalf;

use crate::control::{Client, ClientError};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "bbclient-control-unit-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir is writable");
    d
}

/// A server within `limits` whose application answers every command at
/// once, except `hold`, which it keeps unanswered (in `held`).
async fn server(name: &str, limits: Limits) -> (PathBuf, Arc<Mutex<Vec<ControlCommand>>>) {
    let path = scratch(name).join("run/bbclient/t.sock");
    let listener = bind(&path).await.expect("bind");
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<ControlCommand>(4);
    let (ev_tx, _) = broadcast::channel::<Event>(16);
    tokio::spawn(serve_within(
        listener,
        cmd_tx,
        EventFeed::new(ev_tx),
        limits,
    ));
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Some(cmd) = cmd_rx.recv().await {
            if matches!(cmd.body, RequestBody::Hold) {
                keep.lock().expect("not poisoned").push(cmd);
            } else {
                let _ = cmd.reply.send(Ok(None));
            }
        }
    });
    (path, held)
}

/// A connection that speaks raw lines.
struct Raw {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Raw {
    async fn open(path: &Path) -> Raw {
        let (read, write) = UnixStream::connect(path)
            .await
            .expect("connect")
            .into_split();
        Raw {
            lines: BufReader::new(read).lines(),
            write,
        }
    }

    async fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.expect("write");
    }

    async fn next(&mut self) -> Option<serde_json::Value> {
        let line = self.lines.next_line().await.expect("read")?;
        Some(serde_json::from_str(&line).expect("json"))
    }

    async fn ask(&mut self, line: &str) -> serde_json::Value {
        self.send(line).await;
        self.next().await.expect("a reply")
    }
}

fn error_of(v: &serde_json::Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

#[test]
fn a_registration_sent_before_a_subscription_is_in_its_state() {
    // The control_events race: the softphone said "registered", the
    // script subscribed at once, and the event had been broadcast
    // before it subscribed but not yet seen by a tracking task.
    let (tx, _) = broadcast::channel::<Event>(4);
    let feed = EventFeed::new(tx);
    let registered = Event::new(EventKind::Registration {
        state: RegistrationState::Registered,
        reason: None,
    });
    feed.send(registered.clone());
    let (mut rx, state) = feed.subscribe();
    assert_eq!(state, Some(registered));
    let answered = Event::new(EventKind::Answered).with_call("abc@host");
    feed.send(answered.clone());
    assert_eq!(rx.try_recv().ok(), Some(answered));
}

#[tokio::test]
async fn a_subscriber_gets_the_registration_state_then_events_in_order() {
    let d = scratch("serve");
    let path = d.join("run/bbclient/t.sock");
    let listener = bind(&path).await.expect("bind");
    let mode = std::fs::metadata(&path).expect("socket").mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<ControlCommand>(4);
    let (ev_tx, _) = broadcast::channel::<Event>(16);
    let feed = EventFeed::new(ev_tx);
    let server = serve(listener, cmd_tx, feed.clone());
    // Sent before the server task is even polled: it must not be lost.
    let registered = Event::new(EventKind::Registration {
        state: RegistrationState::Registered,
        reason: None,
    });
    feed.send(registered.clone());
    tokio::spawn(server);
    tokio::spawn(async move {
        while let Some(cmd) = cmd_rx.recv().await {
            let outcome = match cmd.body {
                RequestBody::Hold => Err("no active call to hold".to_string()),
                _ => Ok(Some(serde_json::json!({"seen": cmd.body.word()}))),
            };
            let _ = cmd.reply.send(outcome);
        }
    });

    let mut c = Client::connect(&path).await.expect("connect");
    let hold = c.request(RequestBody::Hold).await.expect("reply");
    assert!(!hold.ok);
    assert_eq!(hold.id, 1);
    assert_eq!(hold.error.as_deref(), Some("no active call to hold"));
    assert!(c.subscribe().await.expect("reply").ok);
    assert_eq!(c.next_event().await.expect("replayed"), registered);
    let answered = Event::new(EventKind::Answered).with_call("abc@host");
    feed.send(answered.clone());
    let status = c.request(RequestBody::Status).await.expect("reply");
    assert_eq!(status.data, Some(serde_json::json!({"seen": "status"})));
    assert_eq!(c.next_event().await.expect("event"), answered);
}

#[tokio::test]
async fn bad_lines_get_a_reply_with_id_zero() {
    let d = scratch("bad-lines");
    let path = d.join("run/bbclient/t.sock");
    let listener = bind(&path).await.expect("bind");
    let (cmd_tx, _cmd_rx) = mpsc::channel::<ControlCommand>(4);
    let (ev_tx, _) = broadcast::channel::<Event>(16);
    tokio::spawn(serve(listener, cmd_tx, EventFeed::new(ev_tx)));
    let stream = UnixStream::connect(&path).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut ask = async |line: &[u8]| -> serde_json::Value {
        write.write_all(line).await.expect("write");
        let l = lines.next_line().await.expect("read").expect("a line");
        serde_json::from_str(&l).expect("json")
    };
    let r = ask(b"{\"id\":7,\"cmd\":\"fly\"}\n").await;
    assert_eq!(
        (r["id"].as_u64(), r["ok"].as_bool()),
        (Some(0), Some(false)),
        "{r}"
    );
    let r = ask(b"{\"id\":8,\"cmd\":\"call\",\"number\":\"12ab\"}\n").await;
    let e = r["error"].as_str().unwrap_or_default();
    assert!(e.contains("number refused"), "{r}");
    let r = ask(b"\xff\xfe\n").await;
    assert_eq!(r["error"], "control line refused: not UTF-8");
    let mut long = vec![b'x'; MAX_LINE_LEN + 10];
    long.push(b'\n');
    let r = ask(&long).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than"),
        "{r}"
    );
    assert!(
        lines.next_line().await.expect("read").is_none(),
        "closed after a long line"
    );
}

#[tokio::test]
async fn silent_connections_beyond_the_limit_do_not_lock_a_verb_out() {
    let (path, _) = server("silent", LIMITS).await;
    let mut silent = Vec::new();
    for _ in 0..MAX_CLIENTS + 8 {
        silent.push(
            UnixStream::connect(&path)
                .await
                .expect("the kernel accepts"),
        );
    }
    let mut c = Client::connect(&path).await.expect("connect");
    let r = c.request(RequestBody::Status).await.expect("a reply");
    assert!(r.ok, "{r:?}");
    // The oldest silent one gave its place, and was told why.
    let mut first = BufReader::new(silent.remove(0));
    let mut line = String::new();
    first.read_line(&mut line).await.expect("read");
    assert!(
        line.contains("closed: all 64 control connections were taken"),
        "{line}"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_when_none_can_give_way() {
    let limits = Limits {
        clients: 4,
        subscribers: 2,
        idle: IDLE_TIMEOUT,
    };
    let (path, held) = server("limit", limits).await;
    // Two subscribers and two commands being carried out: nobody to
    // close for a newcomer.
    let mut subscribers = Vec::new();
    for _ in 0..2 {
        let mut s = Raw::open(&path).await;
        assert_eq!(
            s.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"],
            true
        );
        subscribers.push(s);
    }
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut b = Raw::open(&path).await;
        b.send("{\"id\":1,\"cmd\":\"hold\"}\n").await;
        busy.push(b);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while held.lock().expect("not poisoned").len() < 2 {
        assert!(Instant::now() < deadline, "the holds did not arrive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut extra = Client::connect(&path).await.expect("the kernel accepts");
    let r = extra.request(RequestBody::Status).await.expect("a refusal");
    assert_eq!((r.ok, r.id), (false, 0));
    let e = r.error.unwrap_or_default();
    assert!(
        e.contains("too many control connections (4 at most, 2 of them subscribed)"),
        "{e}"
    );
    // A command answered makes its connection one that can give way.
    for cmd in held.lock().expect("not poisoned").drain(..) {
        let _ = cmd.reply.send(Ok(None));
    }
    for b in &mut busy {
        assert_eq!(b.next().await.expect("the reply")["ok"], true);
    }
    let mut c = Client::connect(&path).await.expect("connect");
    assert!(c.request(RequestBody::Status).await.expect("reply").ok);
    let closed = busy[0].next().await.expect("told why");
    assert!(
        error_of(&closed).contains("had waited longest for a request"),
        "{closed}"
    );
    assert!(busy[0].next().await.is_none(), "and closed");
}

#[tokio::test]
async fn a_connection_without_a_complete_line_is_closed_when_idle() {
    let limits = Limits {
        idle: Duration::from_millis(100),
        ..LIMITS
    };
    let (path, _) = server("idle", limits).await;
    // One that answers at once is served, then times out waiting for
    // the next line; one that never finishes its line likewise.
    let mut quick = Raw::open(&path).await;
    assert_eq!(
        quick.ask("{\"id\":1,\"cmd\":\"status\"}\n").await["ok"],
        true
    );
    let mut partial = Raw::open(&path).await;
    partial.send("{\"id\":1,\"cmd\":").await;
    for c in [&mut quick, &mut partial] {
        // Bounded only so that a server that never closes fails the
        // test instead of hanging it.
        let closed = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .expect("closed long after the 0.1 s limit")
            .expect("told why");
        assert_eq!(closed["id"], 0);
        assert!(
            error_of(&closed).contains("closed: no complete request line within 0.1 s"),
            "{closed}"
        );
        assert!(c.next().await.is_none(), "and closed");
    }
    // A subscriber is silent by nature, and is not timed out: it still
    // gets the answer to a request sent long after.
    let mut sub = Raw::open(&path).await;
    assert_eq!(
        sub.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"],
        true
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = sub.ask("{\"id\":2,\"cmd\":\"status\"}\n").await;
    assert_eq!((r["id"].as_u64(), r["ok"].as_bool()), (Some(2), Some(true)));
}

#[tokio::test]
async fn half_closed_subscribers_count_until_they_hang_up() {
    let limits = Limits {
        subscribers: 2,
        ..LIMITS
    };
    let (path, _) = server("subscribers", limits).await;
    let mut subscribers = Vec::new();
    for _ in 0..2 {
        let mut s = Raw::open(&path).await;
        assert_eq!(
            s.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"],
            true
        );
        // As `socat` does at the end of its input.
        s.write.shutdown().await.expect("shutdown");
        subscribers.push(s);
    }
    let mut third = Raw::open(&path).await;
    let r = third.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await;
    assert_eq!(
        (r["id"].as_u64(), r["ok"].as_bool()),
        (Some(1), Some(false))
    );
    assert!(
        error_of(&r).contains("refused: too many subscribers (2 at most)"),
        "{r}"
    );
    // Its connection still serves verbs.
    let r = third.ask("{\"id\":2,\"cmd\":\"status\"}\n").await;
    assert_eq!(r["ok"], true, "{r}");
    // One hangs up for good, with no event to write to it: noticed, and
    // its place is free again.
    drop(subscribers.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = Raw::open(&path).await;
        if s.ask("{\"id\":1,\"cmd\":\"subscribe\"}\n").await["ok"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a subscriber that hung up still holds its place"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_second_instance_is_refused_and_a_stale_socket_replaced() {
    let d = scratch("second");
    let path = d.join("run/bbclient/t.sock");
    let first = bind(&path).await.expect("bind");
    let e = bind(&path).await.expect_err("in use").to_string();
    assert!(
        e.contains("another softphone already runs") && e.contains("--instance"),
        "{e}"
    );
    drop(first);
    // The socket file stays behind, as after a crash.
    assert!(path.exists());
    bind(&path).await.expect("a stale socket is replaced");
    let e = Client::connect(&d.join("run/bbclient/none.sock"))
        .await
        .err()
        .expect("nothing there");
    assert!(matches!(e, ClientError::NotRunning { .. }), "{e}");
    assert!(e.to_string().starts_with("no softphone is running"));
}
