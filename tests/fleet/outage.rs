//! Redis killed in the middle of a run, then started again: every call still
//! succeeds, each replica logs one WARN for the outage (not one per call), and once
//! Redis answers again the replicas share their token and limits through it again.
//! It runs alone in its binary, so the global subscriber that counts the events sees
//! only it.
#![cfg(all(feature = "testing", feature = "redis"))]

use std::time::Duration;

use crate::support::redis_server::RedisServer;
use crate::support::redis_server::store_events::{EVENTS, count};
use aily_client::Client;
use aily_client::rate_limit::Quota;
use aily_client::store::redis::RedisConfig;
use aily_client::testing::Route;
use tokio::task::JoinSet;
use tracing::Level;

use crate::support;

const APP_ID: &str = "cli_outage_app";
const APP_SECRET: &str = "outage-secret";
const REPLICAS: usize = 8;

async fn calls(clients: &[Client], each: usize) {
    let mut set = JoinSet::new();
    for client in clients {
        let client = client.clone();
        set.spawn(async move {
            for _ in 0..each {
                client
                    .cancel_run("s", "r")
                    .await
                    .expect("no call fails because of Redis");
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_then_back() {
    support::serial::alone();
    support::trace::store_events();
    EVENTS.lock().unwrap().clear();
    let mut redis = RedisServer::start();
    let fake = support::fake_with_app(APP_ID, APP_SECRET).await;
    let clients: Vec<Client> = (0..REPLICAS)
        .map(|_| {
            support::app_client(&fake, APP_ID, APP_SECRET, |b| {
                b.redis_config(RedisConfig::new(redis.url()).budget(Duration::from_millis(500)))
                    .quota(Quota::per_second(10_000))
            })
        })
        .collect();

    // Sharing: one token for the fleet.
    calls(&clients, 5).await;
    assert_eq!(fake.request_count(Route::TenantToken), 1);
    assert_eq!(count(Level::WARN, "redis unreachable"), 0);

    // Redis dies in the middle of a run: every call still succeeds, one WARN per replica.
    let running = {
        let clients = clients.clone();
        tokio::spawn(async move { calls(&clients, 40).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    redis.kill();
    running.await.expect("the calls across the kill succeed");
    // Every replica has used Redis since the kill (its calls may all have finished
    // before it).
    calls(&clients, 2).await;
    assert_eq!(
        count(Level::WARN, "redis unreachable"),
        REPLICAS,
        "one WARN per replica for the outage"
    );
    // A token needed during the outage is fetched by each replica on its own.
    fake.revoke_all_tokens();
    calls(&clients, 2).await;
    assert_eq!(
        count(Level::WARN, "redis unreachable"),
        REPLICAS,
        "still one per outage"
    );

    // Redis is back (empty): the replicas find it again within a few probes.
    redis.restart();
    for _ in 0..300 {
        if count(Level::INFO, "redis answers again") == REPLICAS {
            break;
        }
        calls(&clients, 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(Level::INFO, "redis answers again"), REPLICAS);

    // And they share again: after a revocation, one new token for the whole fleet.
    fake.revoke_all_tokens();
    fake.clear_requests();
    calls(&clients, 3).await;
    assert_eq!(
        fake.request_count(Route::TenantToken),
        1,
        "one token request for the fleet once Redis is back"
    );
    // The limiter decides in Redis again: the restarted server ran its script for
    // these calls (its GCRA keys expire within a slot, so count the scripts run).
    let stats = redis
        .command("INFO commandstats\r\n")
        .expect("redis answers");
    let scripts: usize = stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(
        scripts >= REPLICAS * 3,
        "{scripts} scripts run since the restart: {stats}"
    );
    assert_eq!(count(Level::WARN, "redis unreachable"), REPLICAS);
}
