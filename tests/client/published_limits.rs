//! `ClientBuilder::published_rate_limits` over TCP, against the fake enforcing the
//! published limit as a sliding window.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::{self, flat_out};

/// How long the client calls flat out.
const RUN_FOR: Duration = Duration::from_secs(6);

/// Create run is published at 100/min and applied at 90/min — one slot every
/// 666.7 ms — with a burst of 5. One client, two tasks calling it back to back for
/// 6 s, each call waiting for its slot: the fake (enforcing 100/min) refuses none,
/// and the count is the GCRA's: the burst plus one a slot, so at most 5 + 1 per
/// 666.7 ms elapsed (a burst of the default sixth, 15, would exceed it) and at least
/// 5 + 8 (the slots before 6 s), less 3 slots (2 s) of slack for a loaded machine —
/// which a limiter that wastes its budget does not reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_run_flat_out_under_the_published_limit_is_never_refused() {
    let fake = support::fake().await;
    let op = flat_out::create_run();
    (op.prepare)(&fake);
    fake.set_rate_limit(op.route, op.limit);
    let client = support::client_with(&fake, |b| b.published_rate_limits().max_attempts(1));
    let started = Instant::now();
    let out = support::bounded(flat_out::flat_out(&[client], 2, RUN_FOR, op.call)).await;
    let elapsed = started.elapsed();
    let counts = fake.rate_limit_counts(op.route);
    println!(
        "1 client, {elapsed:?} flat out on create run, published 100/min: accepted {}, refused {}",
        counts.accepted, counts.refused
    );
    assert_eq!(counts.refused, 0, "the fake refused {}", counts.refused);
    assert_eq!(counts.accepted, out.sent);
    assert_eq!(out.held, 0, "every call waited for its slot");
    let slot = Duration::from_secs(60) / 90;
    let most = 5 + (elapsed.as_micros() / slot.as_micros()) as usize;
    assert!(
        counts.accepted <= most,
        "{} sent in {elapsed:?}: more than the burst of 5 and one a slot ({most})",
        counts.accepted
    );
    assert!(
        counts.accepted >= 10,
        "{} sent in {elapsed:?}: the limiter did not use its budget",
        counts.accepted
    );
}
