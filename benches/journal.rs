//! What the run journal costs per `create_run`: the client with no journal, with the
//! file journal (a JSON line appended before the request, another once the reply names
//! the run) and with the Redis journal (an `HSET` each, on a `redis-server` on
//! loopback, started here), one call at a time against `FakeAily` on loopback, all in
//! the same run.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench journal --features redis,testing
//! ```
//!
//! Each call creates a run in a new session (the fake allows one active run per
//! session). One run: an interleaved measurement (variants rotated every round, median
//! of per-round ratios against "no journal"), then the criterion group
//! `journal_create_run`. Needs `redis-server` (`apt-get install -y redis-server`).

mod common;
#[path = "../tests/redis_server/mod.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aily_client::journal::{FileJournal, RedisJournal, RunJournal};
use aily_client::runs::CreateRunRequest;
use aily_client::store::redis::{RedisBackend, RedisConfig};
use aily_client::testing::FakeAily;
use aily_client::{Client, Credentials};
use criterion::Criterion;

use common::{interleaved_rounds, median};

const TOKEN: &str = "t-bench-journal";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Journal {
    None,
    File,
    Redis,
}

impl Journal {
    const ALL: [Journal; 3] = [Journal::None, Journal::File, Journal::Redis];

    fn id(self) -> &'static str {
        match self {
            Journal::None => "no_journal",
            Journal::File => "file_journal",
            Journal::Redis => "redis_journal",
        }
    }
}

fn client(base: &str, journal: Journal, redis_url: &str, dir: &std::path::Path) -> Client {
    let builder = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(base);
    match journal {
        Journal::None => builder,
        Journal::File => builder.journal(Arc::new(FileJournal::open(dir).expect("dir"))),
        Journal::Redis => {
            let backend =
                RedisBackend::new(RedisConfig::new(redis_url).budget(Duration::from_secs(1)))
                    .expect("redis");
            builder.journal(Arc::new(RedisJournal::new(&backend, "bench")))
        }
    }
    .build()
    .expect("client")
}

static SESSION: AtomicU64 = AtomicU64::new(0);

async fn create(client: &Client) {
    let n = SESSION.fetch_add(1, Ordering::Relaxed);
    let request = CreateRunRequest::new(format!("session_b{n}"), "spring_bench__c").expect("ids");
    client.create_run(request).await.expect("a bench call");
}

async fn calls(client: &Client, n: u64) {
    for _ in 0..n {
        create(client).await;
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let redis = redis_server::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(FakeAily::start()).expect("fake");
    fake.add_tenant_token(TOKEN);
    fake.set_accept_any_ids(true);
    fake.set_request_log_limit(Some(0));
    let dir = std::env::temp_dir().join(format!("aily-bench-journal-{}", std::process::id()));
    let base = fake.base_url();
    let clients: Vec<(Journal, Client)> = Journal::ALL
        .iter()
        .map(|j| (*j, client(&base, *j, &redis.url(), &dir)))
        .collect();
    for (_, c) in &clients {
        rt.block_on(calls(c, if full { 300 } else { 3 }));
    }

    let (rounds, per_round) = if full { (20, 200) } else { (2, 5) };
    let (per_call, ratio) = interleaved_rounds(clients.len(), rounds, |i| {
        let started = Instant::now();
        rt.block_on(calls(&clients[i].1, per_round));
        started.elapsed().as_secs_f64() * 1e6 / per_round as f64
    });

    if full {
        let mut c = Criterion::default()
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        let mut group = c.benchmark_group("journal_create_run");
        for (journal, client) in &clients {
            group.bench_function(journal.id(), |b| {
                b.to_async(&rt).iter(|| create(client));
            });
        }
        group.finish();
        c.final_summary();
    }

    println!();
    println!(
        "journal: {rounds} interleaved rounds of {per_round} create_run calls per variant, \
         1 in flight; median µs/call and median per-round ratio to no journal"
    );
    println!("| variant | µs/call | time × no journal |");
    println!("| --- | ---: | ---: |");
    for (i, journal) in Journal::ALL.iter().enumerate() {
        println!(
            "| {} | {:.1} | {:.2} |",
            journal.id(),
            median(per_call[i].clone()),
            median(ratio[i].clone())
        );
    }

    // The lease: one renewal per process per third of the lease period, whatever the
    // number of runs. Its cost, per renewal:
    let renewals = if full { 2_000 } else { 5 };
    let file = FileJournal::open(&dir).expect("dir");
    let backend = RedisBackend::new(RedisConfig::new(redis.url()).budget(Duration::from_secs(1)))
        .expect("redis");
    let in_redis = RedisJournal::new(&backend, "bench-lease");
    let stores: [(&str, &dyn RunJournal); 2] =
        [("file_journal", &file), ("redis_journal", &in_redis)];
    println!();
    println!(
        "lease renewal: {renewals} renewals each; µs/renewal (one per process every lease/3 s)"
    );
    println!("| variant | µs/renewal |");
    println!("| --- | ---: |");
    for (name, store) in stores {
        rt.block_on(store.renew(Duration::from_secs(30)))
            .expect("renew");
        let started = Instant::now();
        for _ in 0..renewals {
            rt.block_on(store.renew(Duration::from_secs(30)))
                .expect("renew");
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / renewals as f64;
        println!("| {name} | {us:.1} |");
    }
    drop(clients);
    std::fs::remove_dir_all(&dir).ok();
}
