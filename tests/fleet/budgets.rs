//! Redis's time budgets on a slow machine: a loopback TCP proxy (tests/redis_server/proxy.rs) in
//! front of a real `redis-server` delays Redis's replies. A slow *first* reply (a cold
//! start on a busy machine) fits the connect budget and the fleet keeps sharing; a
//! Redis slower than the steady budget stops the sharing — visibly (the WARN, the
//! metric `aily.client.store.fallbacks`) — and the sharing resumes by itself when
//! the delay goes away.
#![cfg(all(feature = "testing", feature = "redis", feature = "metrics"))]

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::redis_server::RedisServer;
use crate::support::redis_server::proxy::RedisProxy;
use crate::support::redis_server::store_events::{EVENTS, count};
use aily_client::Client;
use aily_client::store::redis::RedisConfig;
use aily_client::testing::{FakeAily, Route};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Level;

use crate::support;

const APP_ID: &str = "cli_budget_app";
const APP_SECRET: &str = "budget-secret";

/// The process-wide metrics recorder, set up once; the store's events are recorded
/// by the binary's global subscriber (`support::trace`).
fn observe() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    support::trace::store_events();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("the only recorder");
        snapshotter
    })
}

/// The total of `aily.client.store.fallbacks` over its series.
fn fallbacks() -> u64 {
    observe()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "aily.client.store.fallbacks")
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("a counter: {other:?}"),
        })
        .sum()
}

async fn fake() -> FakeAily {
    support::fake_with_app(APP_ID, APP_SECRET).await
}

/// A replica with the default Redis budgets (50 ms steady, 1 s to connect).
fn replica(fake: &FakeAily, proxy: &RedisProxy) -> Client {
    support::app_client(fake, APP_ID, APP_SECRET, |b| {
        b.redis_config(RedisConfig::new(proxy.url()))
    })
}

/// One cancel through each client at once; every one must succeed.
async fn each_calls(clients: &[Client]) {
    let mut calls = JoinSet::new();
    for client in clients {
        calls.spawn(client.cancel_run("s", "r"));
    }
    while let Some(r) = calls.join_next().await {
        r.expect("task").expect("no call fails because of Redis");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_first_redis_reply_does_not_stop_sharing() {
    support::serial::alone();
    observe();
    EVENTS.lock().unwrap().clear();
    let redis = RedisServer::start();
    let proxy = RedisProxy::start(redis.port()).await;
    // A cold start on a busy machine: Redis's first answer on each connection takes
    // 200 ms, four times the steady budget.
    proxy.first_ms.store(200, Ordering::Relaxed);
    let fake = fake().await;
    let clients = [replica(&fake, &proxy), replica(&fake, &proxy)];
    each_calls(&clients).await;
    assert_eq!(
        fake.request_count(Route::TenantToken),
        1,
        "two replicas, one token: the slow first reply fit the connect budget"
    );
    assert_eq!(count(Level::WARN, "redis unreachable"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_sharing_stops_it_says_so_and_resumes_by_itself() {
    support::serial::alone();
    observe();
    EVENTS.lock().unwrap().clear();
    let redis = RedisServer::start();
    let proxy = RedisProxy::start(redis.port()).await;
    let fake = fake().await;
    let clients = [replica(&fake, &proxy), replica(&fake, &proxy)];
    each_calls(&clients).await;
    assert_eq!(fake.request_count(Route::TenantToken), 1, "sharing");
    let before = fallbacks();

    // Redis becomes slower than the steady budget (300 ms against 50 ms).
    proxy.all_ms.store(300, Ordering::Relaxed);
    for _ in 0..3 {
        each_calls(&clients).await;
    }
    assert_eq!(
        count(Level::WARN, "stops sharing"),
        clients.len(),
        "one WARN per replica, saying it stops sharing"
    );
    assert!(fallbacks() > before, "the metric counts the fallbacks");

    // The delay goes away: each replica probes Redis again and shares again.
    proxy.all_ms.store(0, Ordering::Relaxed);
    let started = Instant::now();
    while count(Level::INFO, "redis answers again") < clients.len() {
        // Generous for a loaded machine: probes are 250 ms apart.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the replicas did not resume sharing"
        );
        each_calls(&clients).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Shared again: the token goes stale, and the fleet makes one new one.
    support::revoke_last_token(&fake);
    each_calls(&clients).await;
    assert_eq!(
        fake.request_count(Route::TenantToken),
        1,
        "one new token for both replicas: sharing resumed"
    );
}
