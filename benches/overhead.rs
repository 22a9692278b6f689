//! What our stack costs over a bare hyper-util client, end to end over loopback and
//! layer by layer in memory.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench overhead
//! ```
//!
//! One run, in this order:
//! 1. interleaved measurements, kept for the final tables: the end-to-end variants
//!    and the in-memory layer stacks (fixed call counts, the order rotated every round,
//!    medians of per-round ratios and differences, which cancels this VM's drift);
//! 2. criterion groups `e2e_1_in_flight` (latency: one call at a time),
//!    `e2e_64_in_flight` (throughput: 64 concurrent calls per iteration), `layers`
//!    (each layer's cost over an in-memory inner service, no network) and
//!    `layers_subscribed` (the whole typed stack under a tracing subscriber; last,
//!    since installing a subscriber changes tracing's callsite caches);
//! 3. the tables: the in-memory layer stacks interleaved the same way (per-layer
//!    deltas), the end-to-end ratios of the interleaved measurement, then criterion's
//!    own estimates
//!    (read back from `<target>/criterion/*/*/new/estimates.json`, this run's only).
//!
//! The server is the one of `common`: hyper 1, HTTP/1.1 keep-alive, on its own
//! current-thread runtime in its own thread. Every client runs on a current-thread
//! runtime on the bench thread, so on this 2-core machine client and server each
//! have a core, the same for every variant.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aily_client::CancelRequest;
use criterion::{BenchmarkId, Criterion, Throughput};
use tracing_subscriber::layer::SubscriberExt;

use common::{Clients, Server, Variant, batch, client_runtime, layer_stacks, median};

/// A bound on any one timed loop.
const LOOP_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    let started = SystemTime::now();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) run a smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let server = Server::start();
    let rt = client_runtime();
    let clients = Arc::new(Clients::new(&server.base_url()));
    rt.block_on(common::sanity_check(&clients));
    rt.block_on(clients.warm_up(if full { 200 } else { 2 }));

    eprintln!("interleaved measurement of the end-to-end variants…");
    let ab = interleaved(&rt, &clients, full);
    eprintln!("interleaved measurement of the in-memory layer stacks…");
    let il = interleaved_layers(&rt, full);

    let mut c = Criterion::default().configure_from_args();
    e2e(&mut c, &rt, &clients);
    layers(&mut c, &rt);
    layers_subscribed(&mut c, &rt);
    c.final_summary();

    let (conns, tokens, cancels) = server.counters.snapshot();
    println!();
    println!(
        "server: {conns} connections, {tokens} token requests, {cancels} cancels served; \
         machine: {} cores, client and server on one thread each",
        cores()
    );
    print_interleaved_layers(&il);
    print_interleaved(&ab);
    print_criterion(started);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ─────────────────────────── criterion groups ───────────────────────────

fn e2e(c: &mut Criterion, rt: &tokio::runtime::Runtime, clients: &Arc<Clients>) {
    let mut g = c.benchmark_group("e2e_1_in_flight");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for v in Variant::ALL {
        g.bench_function(BenchmarkId::from_parameter(v.id()), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let clients = clients.clone();
                async move {
                    let start = Instant::now();
                    tokio::time::timeout(LOOP_LIMIT, clients.sequential(v, iters))
                        .await
                        .expect("the loop ends in time");
                    start.elapsed()
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("e2e_64_in_flight");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(64));
    for v in Variant::ALL {
        g.bench_function(BenchmarkId::from_parameter(v.id()), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let clients = clients.clone();
                async move {
                    let start = Instant::now();
                    tokio::time::timeout(LOOP_LIMIT, async {
                        for _ in 0..iters {
                            batch(&clients, v, 64).await;
                        }
                    })
                    .await
                    .expect("the loop ends in time");
                    start.elapsed()
                }
            })
        });
    }
    g.finish();
}

fn layers(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let req = CancelRequest::new(common::SESSION_ID, common::RUN_ID).unwrap();
    let mut g = c.benchmark_group("layers");
    g.sample_size(60)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (id, _what, stack) in layer_stacks() {
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let run = stack.run(&req, iters);
                async move {
                    tokio::time::timeout(LOOP_LIMIT, run)
                        .await
                        .expect("the loop ends in time")
                }
            })
        });
    }
    g.finish();
}

/// The whole typed stack under a subscriber that records spans (the registry, no
/// output), at INFO (the operation span on, attempt spans off) and at DEBUG (both on).
fn layers_subscribed(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let req = CancelRequest::new(common::SESSION_ID, common::RUN_ID).unwrap();
    let mut g = c.benchmark_group("layers_subscribed");
    g.sample_size(60)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (id, level) in [
        (
            "m13_full_registry_info",
            tracing_subscriber::filter::LevelFilter::INFO,
        ),
        (
            "m14_full_registry_debug",
            tracing_subscriber::filter::LevelFilter::DEBUG,
        ),
    ] {
        let subscriber = tracing_subscriber::registry().with(level);
        tracing::subscriber::with_default(subscriber, || {
            let svc = common::full_typed(common::fixed_auth());
            g.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.to_async(rt).iter_custom(|iters| {
                    let mut svc = svc.clone();
                    let req = req.clone();
                    async move {
                        let start = Instant::now();
                        common::drive(&mut svc, &req, iters).await;
                        start.elapsed()
                    }
                })
            });
        });
    }
    g.finish();
}

// ─────────────────────── interleaved measurement ───────────────────────

struct Interleaved {
    rounds: usize,
    calls_1: u64,
    calls_64: u64,
    /// Per variant (index of `Variant::ALL`), per round: time for `calls_1` sequential calls.
    t1: Vec<Vec<Duration>>,
    /// Per variant, per round: time for `calls_64` calls in batches of 64.
    t64: Vec<Vec<Duration>>,
}

/// Every variant, `rounds` times, the order rotated each round; a fixed number of
/// calls each; bounded by `LOOP_LIMIT` per loop and 3 minutes in all.
fn interleaved(rt: &tokio::runtime::Runtime, clients: &Arc<Clients>, full: bool) -> Interleaved {
    let (rounds, calls_1, batches) = if full { (30, 600, 10) } else { (1, 10, 1) };
    let n = Variant::ALL.len();
    let mut out = Interleaved {
        rounds: 0,
        calls_1,
        calls_64: 64 * batches,
        t1: vec![Vec::new(); n],
        t64: vec![Vec::new(); n],
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    for round in 0..rounds {
        if Instant::now() > deadline {
            eprintln!("interleaved measurement: stopped after {round} rounds (time bound)");
            break;
        }
        for k in 0..n {
            let i = (k + round) % n;
            let v = Variant::ALL[i];
            let t = rt.block_on(async {
                let start = Instant::now();
                tokio::time::timeout(LOOP_LIMIT, clients.sequential(v, calls_1))
                    .await
                    .expect("the loop ends in time");
                start.elapsed()
            });
            out.t1[i].push(t);
        }
        for k in 0..n {
            let i = (k + round) % n;
            let v = Variant::ALL[i];
            let t = rt.block_on(async {
                let start = Instant::now();
                tokio::time::timeout(LOOP_LIMIT, async {
                    for _ in 0..batches {
                        batch(clients, v, 64).await;
                    }
                })
                .await
                .expect("the loop ends in time");
                start.elapsed()
            });
            out.t64[i].push(t);
        }
        out.rounds = round + 1;
    }
    out
}

/// Per-round ratios `num[r] / den[r]`: (median, first quartile, third quartile).
fn ratio_stats(num: &[Duration], den: &[Duration]) -> (f64, f64, f64) {
    let mut rs: Vec<f64> = num
        .iter()
        .zip(den)
        .map(|(n, d)| n.as_secs_f64() / d.as_secs_f64())
        .collect();
    rs.sort_by(f64::total_cmp);
    let at = |q: f64| rs[((rs.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

fn print_interleaved(ab: &Interleaved) {
    if ab.rounds == 0 {
        return;
    }
    let total = |ts: &[Duration]| ts.iter().map(Duration::as_secs_f64).sum::<f64>();
    println!();
    println!(
        "Interleaved A/B: {} rounds, the variants' order rotated each round; per round and \
         variant {} sequential calls (1 in flight) and {} calls in batches of 64 (64 in \
         flight); {} cores",
        ab.rounds,
        ab.calls_1,
        ab.calls_64,
        cores()
    );
    println!(
        "ratios: median of the per-round ratios to bare hyper-util [quartiles]; time ratio at 1 \
         in flight (lower is better), throughput ratio at 64 in flight (higher is better)"
    );
    println!(
        "{:<40} {:>10} {:>19} {:>11} {:>19}",
        "variant", "µs/call@1", "time x bare", "calls/s@64", "thrpt x bare"
    );
    for (i, v) in Variant::ALL.iter().enumerate() {
        let per_call = total(&ab.t1[i]) / (ab.calls_1 as f64 * ab.rounds as f64) * 1e6;
        let rate = ab.calls_64 as f64 * ab.rounds as f64 / total(&ab.t64[i]);
        let (m1, lo1, hi1) = ratio_stats(&ab.t1[i], &ab.t1[0]);
        let (m64, lo64, hi64) = ratio_stats(&ab.t64[0], &ab.t64[i]);
        println!(
            "{:<40} {:>10.2} {:>19} {:>11.0} {:>19}",
            v.describe(),
            per_call,
            format!("{m1:.3} [{lo1:.2}–{hi1:.2}]"),
            rate,
            format!("{m64:.3} [{lo64:.2}–{hi64:.2}]"),
        );
    }
    let at = |v: Variant| Variant::ALL.iter().position(|x| *x == v).unwrap();
    let ours = at(Variant::StackCancelRun);
    for (name, base) in [
        ("bare", at(Variant::Bare)),
        ("bare+json", at(Variant::BareJson)),
        ("reqwest+json", at(Variant::ReqwestJson)),
    ] {
        let (m1, _, _) = ratio_stats(&ab.t1[ours], &ab.t1[base]);
        let (m64, _, _) = ratio_stats(&ab.t64[base], &ab.t64[ours]);
        println!(
            "full stack / {name} = {m1:.2} (time per call, 1 in flight); {m64:.2} (throughput, 64 in flight)"
        );
    }
}

/// The in-memory layer stacks, interleaved the same way: per round, every stack runs
/// `calls` calls (order rotated); per stack, the median over rounds of ns/call, and
/// the median over rounds of its difference to the row above in the same round.
struct LayersInterleaved {
    rounds: usize,
    calls: u64,
    rows: Vec<(&'static str, &'static str, Vec<f64>)>,
}

fn interleaved_layers(rt: &tokio::runtime::Runtime, full: bool) -> LayersInterleaved {
    let (rounds, calls) = if full { (30, 4_000) } else { (1, 10) };
    let req = CancelRequest::new(common::SESSION_ID, common::RUN_ID).unwrap();
    let stacks = layer_stacks();
    let n = stacks.len();
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); n];
    for (_, _, stack) in &stacks {
        rt.block_on(stack.run(&req, calls / 4 + 1)); // warm (the app token too)
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done = 0;
    for round in 0..rounds {
        if Instant::now() > deadline {
            eprintln!("interleaved layers: stopped after {round} rounds (time bound)");
            break;
        }
        for k in 0..n {
            let i = (k + round) % n;
            let t = rt.block_on(async {
                tokio::time::timeout(LOOP_LIMIT, stacks[i].2.run(&req, calls))
                    .await
                    .expect("the loop ends in time")
            });
            ns[i].push(t.as_secs_f64() * 1e9 / calls as f64);
        }
        done = round + 1;
    }
    LayersInterleaved {
        rounds: done,
        calls,
        rows: stacks
            .into_iter()
            .zip(ns)
            .map(|((id, what, _), v)| (id, what, v))
            .collect(),
    }
}

fn print_interleaved_layers(il: &LayersInterleaved) {
    if il.rounds == 0 {
        return;
    }
    println!();
    println!(
        "Layers over an in-memory inner service (no network; the inner service yields once), \
         interleaved: {} rounds of {} calls per stack, order rotated; median ns/call over \
         rounds; Δ = median over rounds of the difference to the row above; {} cores",
        il.rounds,
        il.calls,
        cores()
    );
    println!(
        "{:<24} {:<52} {:>9} {:>9}",
        "stack", "what", "ns/call", "Δ ns"
    );
    for (k, (id, what, v)) in il.rows.iter().enumerate() {
        let delta = if common::in_chain(id) && k > 0 {
            let prev = &il.rows[k - 1].2;
            format!(
                "{:+.0}",
                median(v.iter().zip(prev).map(|(a, b)| a - b).collect())
            )
        } else {
            String::new()
        };
        println!("{id:<24} {what:<52} {:>9.0} {delta:>9}", median(v.clone()));
    }
    print_metrics_ratios(il);
}

/// With the feature `metrics`: the whole typed stack with the metrics layers (no
/// recorder, then a Prometheus recorder) over the same stack without them, as the
/// median and quartiles of the per-round ratios (same rounds, same inner service).
fn print_metrics_ratios(il: &LayersInterleaved) {
    let row = |id: &str| il.rows.iter().find(|(i, _, _)| *i == id).map(|r| &r.2);
    let Some(base) = row("m10_full_typed") else {
        return;
    };
    println!(
        "metrics feature: {}",
        if cfg!(feature = "metrics") {
            "on (the end-to-end `ours` rows include the metrics layers; no recorder installed)"
        } else {
            "off (nothing compiled in)"
        }
    );
    for (id, what) in [
        ("m15_full_metrics", "metrics layers, no recorder"),
        ("m16_full_prometheus", "metrics layers, Prometheus recorder"),
    ] {
        let Some(v) = row(id) else { continue };
        let mut ratios: Vec<f64> = v.iter().zip(base).map(|(a, b)| a / b).collect();
        ratios.sort_by(f64::total_cmp);
        let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
        println!(
            "{what} / whole typed stack (m10) = {:.3} [{:.3}–{:.3}] (in memory, per round)",
            q(0.5),
            q(0.25),
            q(0.75)
        );
    }
}

// ─────────────────────── criterion's own estimates ───────────────────────

/// Where criterion wrote its results, found the way criterion finds it.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(Path::new(&target).join("criterion"));
    }
    if let Some(cargo) = std::env::var_os("CARGO") {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        return Some(Path::new(meta["target_directory"].as_str()?).join("criterion"));
    }
    // target/release/deps/overhead-… → target/criterion
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// Criterion's mean time per iteration (ns) for `group/id`, if written by this run.
fn estimate(dir: &Path, group: &str, id: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_criterion(since: SystemTime) {
    let Some(dir) = criterion_dir() else {
        return;
    };
    let e1 = |id: &str| estimate(&dir, "e2e_1_in_flight", id, since);
    let e64 = |id: &str| estimate(&dir, "e2e_64_in_flight", id, since);
    let (Some(bare1), Some(bare64)) = (e1("bare_hyper"), e64("bare_hyper")) else {
        println!("(no criterion estimates of this run for the end-to-end groups)");
        return;
    };
    println!();
    println!(
        "Criterion estimates (mean), ratio to bare hyper-util; {} cores",
        cores()
    );
    println!(
        "{:<40} {:>10} {:>9} {:>12} {:>9}",
        "variant", "µs/call@1", "x bare", "calls/s@64", "x bare"
    );
    for v in Variant::ALL {
        let (Some(t1), Some(t64)) = (e1(v.id()), e64(v.id())) else {
            continue;
        };
        println!(
            "{:<40} {:>10.2} {:>9.3} {:>12.0} {:>9.3}",
            v.describe(),
            t1 / 1e3,
            t1 / bare1,
            64.0 / (t64 / 1e9),
            bare64 / t64,
        );
    }
    if let (Some(ours1), Some(ours64)) = (e1("stack_cancel_run"), e64("stack_cancel_run")) {
        println!(
            "full stack / bare = {:.2} (time per call, 1 in flight); {:.2} (throughput, 64 in flight)",
            ours1 / bare1,
            bare64 / ours64
        );
    }

    println!();
    println!(
        "Layers over an in-memory inner service (criterion mean; each bench measured in its own \
         window, so compare with the interleaved table above for deltas)"
    );
    println!("{:<24} {:<52} {:>9}", "bench", "what", "ns/call");
    let mut rows: Vec<(&str, &str, &str)> = layer_stacks()
        .into_iter()
        .map(|(id, what, _)| ("layers", id, what))
        .collect();
    rows.push((
        "layers_subscribed",
        "m13_full_registry_info",
        "m10 under a registry subscriber at INFO",
    ));
    rows.push((
        "layers_subscribed",
        "m14_full_registry_debug",
        "m10 under a registry subscriber at DEBUG",
    ));
    for (group, id, what) in rows {
        let Some(t) = estimate(&dir, group, id, since) else {
            continue;
        };
        println!("{id:<24} {what:<52} {t:>9.0}");
    }
}
