//! The run journal with a real `redis-server` (started by the test on a free loopback
//! port) and FakeAily over real TCP: an `aily ask` process SIGKILLed mid-run and four
//! surviving replicas racing to sweep — one cancel; Redis down during a sweep — calls
//! go on, the sweep retries later; garbage entries (Redis and file) — skipped with one
//! WARN, never a panic.
#![cfg(feature = "redis")]

use std::process::Stdio;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crate::support::redis_server::RedisServer;
use aily_client::journal::{FileJournal, JournalConfig, RedisJournal, RunJournal};
use aily_client::runs::CreateRunRequest;
use aily_client::store::redis::{RedisBackend, RedisConfig};
use aily_client::testing::{FakeAily, Route};
use aily_client::{Client, Credentials, ErrorKind};
use tokio::io::{AsyncBufReadExt, BufReader};
use tracing::Level;
use tracing::field::{Field, Visit};

const TOKEN: &str = "t-journal";
const BOUND: Duration = Duration::from_secs(30);
const LEASE: Duration = Duration::from_secs(1);

/// WARN events of the journal modules, by message.
static WARNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct JournalWarns;
struct Message(String);
impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for JournalWarns {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == Level::WARN && meta.target().starts_with("aily_client::journal") {
            let mut message = Message(String::new());
            event.record(&mut message);
            WARNS.lock().unwrap().push(message.0);
        }
    }
}

fn install_warns() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(JournalWarns);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn warns(text: &str) -> usize {
    WARNS
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains(text))
        .count()
}

/// The namespace `aily` uses for a base URL without `FEISHU_APP_ID`.
fn cli_namespace(fake: &FakeAily) -> String {
    format!("{} ", fake.base_url())
}

fn replica(fake: &FakeAily, redis: &str, namespace: &str) -> Client {
    let backend = RedisBackend::new(RedisConfig::new(redis)).unwrap();
    Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(fake.base_url())
        .journal(Arc::new(RedisJournal::new(&backend, namespace)))
        .journal_config(JournalConfig::new().lease(LEASE))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_race_to_sweep_a_sigkilled_ask_and_cancel_it_once() {
    let server = RedisServer::start();
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_rk");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));

    let mut cmd = crate::runner::command(&[
        "ask",
        "--app",
        "spring_cli__c",
        "--session",
        "session_rk",
        "hello",
    ]);
    cmd.args(["--timeout", "50", "--base-url", &fake.base_url()])
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.env("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)
        .env("AILY_REDIS_URL", server.url())
        .env("AILY_JOURNAL_LEASE_S", "1");
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(BOUND, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(r#""event":"delta""#) {
                return;
            }
        }
        panic!("aily ask ended early");
    })
    .await
    .unwrap();
    child.kill().await.unwrap();
    child.wait().await.unwrap();
    assert_eq!(fake.request_count(Route::CancelRun), 0);

    let namespace = cli_namespace(&fake);
    let replicas: Vec<Client> = (0..4)
        .map(|_| replica(&fake, &server.url(), &namespace))
        .collect();
    // Each replica lives: its own lease is renewed and it sweeps periodically.
    for r in &replicas {
        r.start_journal();
    }
    // And all four race, sweep after sweep, until the orphan is cancelled.
    let mut cancelled = 0;
    tokio::time::timeout(BOUND, async {
        while fake.request_count(Route::CancelRun) == 0 {
            let sweeps = replicas.iter().map(|r| r.sweep_journal());
            for report in futures_util::future::join_all(sweeps).await {
                cancelled += report.unwrap().cancelled;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the orphan is cancelled");
    // Four more rounds of racing sweeps: nothing left.
    for _ in 0..4 {
        let sweeps = replicas.iter().map(|r| r.sweep_journal());
        for report in futures_util::future::join_all(sweeps).await {
            cancelled += report.unwrap().cancelled;
        }
    }
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "exactly one cancel"
    );
    assert!(
        cancelled <= 1,
        "at most the one sweep's cancel is counted: {cancelled}"
    );
    let run = &fake.session_runs("session_rk").unwrap()[0];
    assert_eq!(run.status.as_str(), "CANCELLED");
    assert!(replicas[0].journal_pending(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn redis_down_during_a_sweep_calls_go_on_and_the_sweep_retries_later() {
    let mut server = RedisServer::start();
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_rd");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    let client = replica(&fake, &server.url(), "down");
    // A run recorded while Redis is up.
    let run = client
        .create_run(CreateRunRequest::new("session_rd", "spring_x__c").unwrap())
        .await
        .unwrap()
        .into_data()
        .run;
    client.sweep_journal().await.unwrap();

    server.kill();
    let swept = client.sweep_journal().await;
    assert_eq!(swept.unwrap_err().kind(), ErrorKind::Journal);
    // Calls that need no journal write go on.
    let read = client.get_run("session_rd", &run.id).await.unwrap();
    assert_eq!(read.run.status.as_str(), "IN_PROGRESS");
    // A create is refused before anything is sent: no run the journal does not know.
    let creates = fake.request_count(Route::CreateRun);
    let refused = client
        .create_run(CreateRunRequest::new("session_rd", "spring_x__c").unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Journal);
    assert_eq!(
        fake.request_count(Route::CreateRun),
        creates,
        "nothing sent"
    );

    // Redis back (empty): the sweep succeeds again (the backend probes every 250 ms).
    server.restart();
    tokio::time::timeout(BOUND, async {
        while client.sweep_journal().await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the sweep works again");
    let cancelled = client.cancel_run("session_rd", &run.id).await.unwrap();
    assert_eq!(cancelled.run.status.as_str(), "CANCELLED");
}

#[tokio::test]
async fn garbage_in_redis_is_skipped_with_one_warn() {
    install_warns();
    let server = RedisServer::start();
    let fake = crate::support::fake_for(TOKEN).await;
    let namespace = "garbage-ns";
    let tag = aily_client::store::fingerprint(&["journal", namespace]);
    let hash = format!("aily:{{{tag}}}:journal");
    for (id, value) in [("g1", "not json at all"), ("g2", "[1,2,3]")] {
        server
            .command(&format!("HSET {hash} {id} {}\r\n", value.replace(' ', "_")))
            .unwrap();
    }
    server
        .command(&format!("HSET {hash} g3 {}\r\n", "a".repeat(10_000)))
        .unwrap();
    let client = replica(&fake, &server.url(), namespace);
    let before = warns("garbage entry");
    for _ in 0..3 {
        let report = client.sweep_journal().await.unwrap();
        assert_eq!(report.orphans, 0);
    }
    assert_eq!(
        warns("garbage entry") - before,
        3,
        "one WARN per garbage entry, once"
    );
    assert!(client.journal_pending(100).await.unwrap().is_empty());
    assert_eq!(fake.request_count(Route::CancelRun), 0);
}

#[tokio::test]
async fn garbage_in_a_journal_file_is_skipped_with_one_warn_and_the_rest_swept() {
    install_warns();
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_fg");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    let dir = std::env::temp_dir().join(format!("aily-journal-garbage-{}", fastrand::u64(..)));
    let build = |dir: &std::path::Path| {
        Client::builder()
            .credentials(Credentials::tenant_token(TOKEN))
            .base_url(fake.base_url())
            .journal(Arc::new(FileJournal::open(dir).unwrap()))
            .journal_config(JournalConfig::new().lease(LEASE))
            .build()
            .unwrap()
    };
    // A first life records a run, then "dies" (dropped without completing).
    let first = build(&dir);
    let run = first
        .create_run(CreateRunRequest::new("session_fg", "spring_x__c").unwrap())
        .await
        .unwrap()
        .into_data()
        .run;
    std::mem::forget(first);
    // Garbage appended to its file: a torn line, a bad line, an over-long line.
    let live = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".live.jsonl"))
        .unwrap();
    let mut text = std::fs::read_to_string(&live).unwrap();
    text.push_str("{\"op\":\"start\",\"id\":\"\u{1b}\"}\nnot json\n");
    text.push_str(&"x".repeat(100_000));
    text.push_str("\n{\"op\":\"done\"");
    std::fs::write(&live, text).unwrap();
    // Its lease, made to lapse now.
    let lease = live.with_file_name(
        live.file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".live.jsonl", ".lease"),
    );
    std::fs::write(&lease, "0").unwrap();

    let before = warns("garbage in a run journal file");
    let second = build(&dir);
    let report = second.sweep_journal().await.unwrap();
    assert_eq!((report.claimed, report.cancelled), (1, 1), "{report:?}");
    assert_eq!(
        warns("garbage in a run journal file") - before,
        1,
        "one WARN for the file"
    );
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    assert_eq!(
        fake.run_status("session_fg", &run.id).as_deref(),
        Some("CANCELLED")
    );
    assert!(second.journal_pending(100).await.unwrap().is_empty());
    let journal = FileJournal::open(&dir).unwrap();
    assert!(!journal.owner().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn killed_between_create_and_reply_a_replica_sweeps_it_on_its_timer_alone() {
    use aily_client::testing::{Fault, Times};
    let server = RedisServer::start();
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_rt");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    // The fake creates the run, then sends half of its reply and stalls.
    fake.push_fault(Route::CreateRun, Fault::StallBody, Times::Once);
    let mut cmd =
        crate::runner::command(&["run", "create", "session_rt", "--app", "spring_cli__c"]);
    cmd.args(["--base-url", &fake.base_url()])
        .kill_on_drop(true)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.env("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)
        .env("AILY_REDIS_URL", server.url())
        .env("AILY_JOURNAL_LEASE_S", "1");
    let mut child = cmd.spawn().unwrap();
    tokio::time::timeout(BOUND, async {
        while fake
            .session_runs("session_rt")
            .unwrap_or_default()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the fake applies the create");
    child.kill().await.unwrap();
    child.wait().await.unwrap();

    // A surviving replica, started and left alone: its timer sweeps (every lease
    // period) and finds the run by listing once the dead process's lease lapsed.
    let replica = replica(&fake, &server.url(), &cli_namespace(&fake));
    replica.start_journal();
    tokio::time::timeout(BOUND, async {
        while fake.request_count(Route::CancelRun) == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the replica's timer sweeps the orphan");
    tokio::time::timeout(BOUND, async {
        while !replica.journal_pending(10).await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the entry is completed");
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "exactly one cancel"
    );
    let run = &fake.session_runs("session_rt").unwrap()[0];
    assert_eq!(run.status.as_str(), "CANCELLED");
}
