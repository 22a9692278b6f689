//! Cold start: many concurrent first calls on a fresh client.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench cold_start
//! ```
//!
//! Each round builds a fresh client (empty pool; with app credentials, an empty token
//! cache), starts N calls at once on the current-thread client runtime, and times
//! until the last one has its reply; the three clients take turns within each round. The server (a thread of this process) counts the
//! token requests and connections of each round. One first call alone is timed too.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use common::{Bare, RUN_ID, SESSION_ID, Server, client_runtime, stack_app, stack_static};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Bare,
    Static,
    App,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Bare => "bare hyper-util",
            Kind::Static => "ours, static token",
            Kind::App => "ours, app credentials (cold cache)",
        }
    }
}

/// `n` concurrent first calls on a fresh client of `kind`; returns the time to the last reply.
async fn round_of(kind: Kind, base: &str, n: usize) -> Duration {
    let mut set = JoinSet::new();
    match kind {
        Kind::Bare => {
            let client = Arc::new(Bare::new(base));
            let start = Instant::now();
            for _ in 0..n {
                let c = client.clone();
                set.spawn(async move {
                    std::hint::black_box(c.call().await);
                });
            }
            join(set).await;
            start.elapsed()
        }
        Kind::Static | Kind::App => {
            let client = match kind {
                Kind::Static => stack_static(base),
                _ => stack_app(base),
            };
            let start = Instant::now();
            for _ in 0..n {
                let c = client.clone();
                set.spawn(async move {
                    std::hint::black_box(c.cancel_run(SESSION_ID, RUN_ID).await.unwrap());
                });
            }
            join(set).await;
            start.elapsed()
        }
    }
}

async fn join(mut set: JoinSet<()>) {
    while let Some(r) = set.join_next().await {
        r.expect("a first call");
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = Server::start();
    let base = server.base_url();
    let rt = client_runtime();

    println!();
    println!(
        "Cold start: fresh client per round, N calls started at once (current-thread client \
         runtime; server in a thread of this process); {cores} cores"
    );
    println!(
        "{:<36} {:>5} {:>6} {:>11} {:>11} {:>11} {:>15} {:>12}",
        "client", "N", "rounds", "median ms", "min ms", "max ms", "token req/round", "conns/round"
    );
    let cases: &[(usize, usize)] = if full {
        &[(1, 21), (1_000, 9)]
    } else {
        &[(1, 1), (20, 1)]
    };
    let deadline = Instant::now() + Duration::from_secs(150);
    const KINDS: [Kind; 3] = [Kind::Bare, Kind::Static, Kind::App];
    for &(n, rounds) in cases {
        // Per kind: times, token requests and connections of each round. The kinds take
        // turns within a round, the order rotated, so drift hits them alike.
        let mut times: [Vec<Duration>; 3] = Default::default();
        let mut tokens: [Vec<usize>; 3] = Default::default();
        let mut conns: [Vec<usize>; 3] = Default::default();
        for round in 0..rounds {
            if Instant::now() > deadline {
                break;
            }
            for k in 0..KINDS.len() {
                let i = (k + round) % KINDS.len();
                let (c0, t0, k0) = server.counters.snapshot();
                let t = rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(60), round_of(KINDS[i], &base, n))
                        .await
                        .expect("a round ends in time")
                });
                let (c1, t1, k1) = server.counters.snapshot();
                assert_eq!(k1 - k0, n, "every call served");
                times[i].push(t);
                tokens[i].push(t1 - t0);
                conns[i].push(c1 - c0);
                // Let the dropped client's connections close before the next client.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        for (i, kind) in KINDS.iter().enumerate() {
            let mut times = std::mem::take(&mut times[i]);
            if times.is_empty() {
                continue;
            }
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let show = |v: &[usize]| {
                if v.iter().all(|x| *x == v[0]) {
                    v[0].to_string()
                } else {
                    format!("{v:?}")
                }
            };
            println!(
                "{:<36} {:>5} {:>6} {:>11.2} {:>11.2} {:>11.2} {:>15} {:>12}",
                kind.describe(),
                n,
                times.len(),
                ms(times[times.len() / 2]),
                ms(times[0]),
                ms(times[times.len() - 1]),
                show(&tokens[i]),
                show(&conns[i]),
            );
        }
    }
}
