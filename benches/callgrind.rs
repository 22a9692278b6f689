//! A small driver to profile one variant under callgrind (or DHAT): a fixed number of
//! sequential calls, the server in a child process, only the measured loop collected.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench bash benches/callgrind.sh   # every variant, a table
//!
//! # or by hand:
//! CARGO_PROFILE_BENCH_DEBUG=line-tables-only CARGO_TARGET_DIR=/work/target-bench \
//!     cargo bench --bench callgrind --no-run          # prints the binary's path
//! AILY_PROFILE=stack_cancel_run AILY_PROFILE_CALLS=20000 valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='callgrind::measure*' <binary>
//! ```
//!
//! `AILY_PROFILE`: one of the end-to-end variant ids (`bare_hyper`, `bare_hyper_json`,
//! `reqwest_json`, `stack_cancel_run`, `stack_service_oneshot`, `stack_app_warm`) or
//! an in-memory layer stack id of `overhead` (`m10_full_typed`, `m12_full_app_warm`, …).
//! `AILY_PROFILE_SUBSCRIBER=info|debug` installs a tracing registry (no output) at that
//! level first, to see what spans cost when something listens.
//! Without `AILY_PROFILE` (as under `cargo bench`), every end-to-end variant runs
//! briefly and its time per call is printed: a smoke test of this driver.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aily_client::CancelRequest;

use common::{ChildServer, Clients, Variant, client_runtime, layer_stacks};

/// The measured loop, a function of its own so a profiler can collect it alone.
#[inline(never)]
fn measure(rt: &tokio::runtime::Runtime, clients: &Clients, v: Variant, n: u64) -> Duration {
    let start = Instant::now();
    rt.block_on(clients.sequential(v, n));
    start.elapsed()
}

/// The same for an in-memory stack.
#[inline(never)]
fn measure_layers(
    rt: &tokio::runtime::Runtime,
    stack: &dyn common::LayerStack,
    req: &CancelRequest,
    n: u64,
) -> Duration {
    rt.block_on(stack.run(req, n))
}

fn main() {
    common::serve_if_child();
    let calls: u64 = std::env::var("AILY_PROFILE_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
        .min(1_000_000);
    let rt = client_runtime();
    let req = CancelRequest::new(common::SESSION_ID, common::RUN_ID).unwrap();

    let level = match std::env::var("AILY_PROFILE_SUBSCRIBER").as_deref() {
        Ok("info") => Some(tracing_subscriber::filter::LevelFilter::INFO),
        Ok("debug") => Some(tracing_subscriber::filter::LevelFilter::DEBUG),
        _ => None,
    };
    if let Some(level) = level {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(level))
            .expect("the first global subscriber");
    }

    let Ok(which) = std::env::var("AILY_PROFILE") else {
        // Smoke test under `cargo bench`.
        let server = ChildServer::spawn();
        let clients = Arc::new(Clients::new(&server.base_url()));
        rt.block_on(common::sanity_check(&clients));
        println!();
        println!("profile driver (smoke test; set AILY_PROFILE=<variant> to profile one)");
        for v in Variant::ALL {
            rt.block_on(clients.sequential(v, 100));
            let t = measure(&rt, &clients, v, 1_000);
            println!(
                "{:<40} {:>8.2} µs/call (server in a child process)",
                v.describe(),
                t.as_secs_f64() * 1e6 / 1_000.0
            );
        }
        return;
    };

    if let Some(v) = Variant::ALL.into_iter().find(|v| v.id() == which) {
        let server = ChildServer::spawn();
        let clients = Arc::new(Clients::new(&server.base_url()));
        rt.block_on(common::sanity_check(&clients));
        rt.block_on(clients.sequential(v, 500));
        let t = measure(&rt, &clients, v, calls);
        eprintln!(
            "{which}: {calls} calls, {:.2} µs/call",
            t.as_secs_f64() * 1e6 / calls as f64
        );
        return;
    }
    if let Some((_, _, stack)) = layer_stacks().into_iter().find(|(id, _, _)| *id == which) {
        rt.block_on(stack.run(&req, 500));
        let t = measure_layers(&rt, &*stack, &req, calls);
        eprintln!(
            "{which}: {calls} calls, {:.0} ns/call",
            t.as_secs_f64() * 1e9 / calls as f64
        );
        return;
    }
    eprintln!("AILY_PROFILE={which}: no such variant");
    std::process::exit(2);
}
