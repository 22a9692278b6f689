//! What proactive rate limiting costs per call: the client with no limiter, with the
//! in-process limiter (GCRA under a mutex) and with the Redis limiter (one Lua script
//! per call on a `redis-server` on loopback, started here), one call at a time
//! against the loopback server of `common`.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench fleet --features redis,testing
//! ```
//!
//! The quota is far above the call rate, so no call ever waits: what is measured is
//! the decision itself. One run: an interleaved measurement (variants rotated every
//! round, median of per-round ratios against "no limiter", which cancels this VM's
//! drift), then the criterion group `fleet_1_in_flight`. Needs `redis-server`
//! (`apt-get install -y redis-server`).

mod common;
#[path = "../tests/redis_server/mod.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use aily_client::rate_limit::Quota;
use aily_client::store::redis::RedisConfig;
use aily_client::{Client, Credentials};
use criterion::Criterion;

use common::{RUN_ID, SESSION_ID, Server, TOKEN, client_runtime, interleaved_rounds, median};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limiter {
    None,
    Local,
    Redis,
}

impl Limiter {
    const ALL: [Limiter; 3] = [Limiter::None, Limiter::Local, Limiter::Redis];

    fn id(self) -> &'static str {
        match self {
            Limiter::None => "no_limiter",
            Limiter::Local => "in_process_limiter",
            Limiter::Redis => "redis_limiter",
        }
    }
}

/// A quota no call of this bench reaches: the limiter decides, nobody waits.
fn quota() -> Quota {
    Quota::per_second(1_000_000).with_burst(100_000)
}

fn client(base: &str, limiter: Limiter, redis_url: &str) -> Client {
    let builder = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(base);
    match limiter {
        Limiter::None => builder,
        Limiter::Local => builder.quota(quota()),
        Limiter::Redis => builder
            .quota(quota())
            .redis_config(RedisConfig::new(redis_url).budget(Duration::from_secs(1))),
    }
    .build()
    .expect("client")
}

async fn calls(client: &Client, n: u64) {
    for _ in 0..n {
        client
            .cancel_run(SESSION_ID, RUN_ID)
            .await
            .expect("a bench call");
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let redis = redis_server::RedisServer::start();
    let server = Server::start();
    let base = server.base_url();
    let rt = client_runtime();
    let clients: Vec<(Limiter, Client)> = Limiter::ALL
        .iter()
        .map(|l| (*l, client(&base, *l, &redis.url())))
        .collect();
    for (_, c) in &clients {
        rt.block_on(calls(c, if full { 500 } else { 3 }));
    }

    // Interleaved: rounds of N calls per variant, the order rotated every round.
    let (rounds, per_round) = if full { (30, 400) } else { (2, 5) };
    let (per_call, ratio) = interleaved_rounds(clients.len(), rounds, |i| {
        let started = Instant::now();
        rt.block_on(calls(&clients[i].1, per_round));
        started.elapsed().as_secs_f64() * 1e6 / per_round as f64
    });

    if full {
        let mut c = Criterion::default()
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        let mut group = c.benchmark_group("fleet_1_in_flight");
        for (limiter, client) in &clients {
            group.bench_function(limiter.id(), |b| {
                b.to_async(&rt)
                    .iter(|| client.cancel_run(SESSION_ID, RUN_ID));
            });
        }
        group.finish();
        c.final_summary();
    }

    println!();
    println!(
        "fleet: {rounds} interleaved rounds of {per_round} calls per variant, 1 in flight; \
         median µs/call and median per-round ratio to no limiter"
    );
    println!("| variant | µs/call | time × no limiter |");
    println!("| --- | ---: | ---: |");
    for (i, limiter) in Limiter::ALL.iter().enumerate() {
        println!(
            "| {} | {:.1} | {:.2} |",
            limiter.id(),
            median(per_call[i].clone()),
            median(ratio[i].clone())
        );
    }
}
