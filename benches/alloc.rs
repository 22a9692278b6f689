//! Allocations per call, client side only.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench alloc
//! ```
//!
//! A counting global allocator (a wrapper over `System`, atomics) counts every
//! allocation of this process. The server runs in a child process (this binary,
//! re-executed with an environment variable), so the counts are the client's alone;
//! the client runs on a current-thread runtime on the main thread. Each variant is
//! warmed up (pooled connection, token cached), then measured over a fixed number of
//! sequential calls. The in-memory layer stacks of `overhead` are counted too, so each
//! layer's allocations show without the network.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use aily_client::CancelRequest;
use tower::ServiceExt;

use common::{ChildServer, Clients, Variant, client_runtime, layer_stacks};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the same arguments; the counters
// are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREES.fetch_add(1, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Counts {
    allocs: u64,
    reallocs: u64,
    frees: u64,
    bytes: u64,
}

fn counts() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        frees: FREES.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

/// Per call over `calls`: (allocations incl. reallocs, of which reallocs, frees, bytes).
fn per_call(before: Counts, after: Counts, calls: u64) -> (f64, f64, f64, f64) {
    let n = calls as f64;
    let allocs = (after.allocs - before.allocs) as f64;
    let reallocs = (after.reallocs - before.reallocs) as f64;
    (
        (allocs + reallocs) / n,
        reallocs / n,
        (after.frees - before.frees) as f64 / n,
        (after.bytes - before.bytes) as f64 / n,
    )
}

fn main() {
    common::serve_if_child();
    let full = std::env::args().any(|a| a == "--bench");
    let (warm, calls) = if full { (1_000, 10_000) } else { (10, 100) };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let server = ChildServer::spawn();
    let rt = client_runtime();
    let clients = Arc::new(Clients::new(&server.base_url()));
    rt.block_on(common::sanity_check(&clients));

    println!();
    println!(
        "Allocations per call, client process only (server in a child process); \
         {calls} sequential calls after {warm} warm-up calls; {cores} cores"
    );
    println!(
        "{:<40} {:>11} {:>9} {:>10} {:>11} {:>9}",
        "end to end (loopback)", "allocs/call", "reallocs", "frees/call", "bytes/call", "Δ allocs"
    );
    let mut bare = None;
    for v in Variant::ALL {
        rt.block_on(clients.sequential(v, warm));
        let before = counts();
        rt.block_on(clients.sequential(v, calls));
        let after = counts();
        let (allocs, reallocs, frees, bytes) = per_call(before, after, calls);
        let base = *bare.get_or_insert(allocs);
        println!(
            "{:<40} {allocs:>11.2} {reallocs:>9.2} {frees:>10.2} {bytes:>11.0} {:>+9.2}",
            v.describe(),
            allocs - base
        );
    }

    println!();
    println!(
        "{:<24} {:<52} {:>11} {:>11} {:>9}",
        "in memory", "what", "allocs/call", "bytes/call", "Δ allocs"
    );
    let req = CancelRequest::new(common::SESSION_ID, common::RUN_ID).unwrap();
    let mut prev: Option<f64> = None;
    for (id, what, stack) in layer_stacks() {
        rt.block_on(stack.run(&req, warm));
        let before = counts();
        rt.block_on(stack.run(&req, calls));
        let after = counts();
        let (allocs, _, _, bytes) = per_call(before, after, calls);
        let delta = match (common::in_chain(id), prev) {
            (true, Some(p)) => format!("{:+.2}", allocs - p),
            _ => String::new(),
        };
        println!("{id:<24} {what:<52} {allocs:>11.2} {bytes:>11.0} {delta:>9}");
        prev = Some(allocs);
    }

    println!();
    println!(
        "Sizes (bytes): every layer's future holds the one below it by value, so a call moves"
    );
    println!("(memcpy) futures of these sizes as the stack is built and polled");
    let sizes: [(&str, usize); 11] = [
        ("Client", size_of_val(&clients.stack)),
        (
            "Client::cancel_run future",
            size_of_val(&clients.stack.cancel_run(common::SESSION_ID, common::RUN_ID)),
        ),
        (
            "CancelService::oneshot future (boxed)",
            size_of_val(&clients.service.clone().oneshot(req.clone())),
        ),
        (
            "Bare::call future (hyper-util)",
            size_of_val(&clients.bare.call()),
        ),
        ("CancelRequest", size_of::<CancelRequest>()),
        ("CancelResponse", size_of::<aily_client::CancelResponse>()),
        ("Run", size_of::<aily_client::Run>()),
        (
            "Envelope<{run}> (decode's target)",
            size_of::<aily_client::envelope::Envelope<'static, common::Data>>(),
        ),
        (
            "ErrorDetail",
            size_of::<aily_client::envelope::ErrorDetail>(),
        ),
        (
            "in-memory full typed stack (service)",
            size_of_val(&common::full_typed(common::fixed_auth())),
        ),
        (
            "in-memory full typed stack future",
            size_of_val(&common::full_typed(common::fixed_auth()).oneshot(req.clone())),
        ),
    ];
    for (what, size) in sizes {
        println!("  {what:<44} {size:>6}");
    }
    drop(clients);
    drop(server);
}
