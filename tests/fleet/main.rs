//! Fleet mode against a real `redis-server` (`support::redis_server`): the token and
//! the rate limits shared by replicas (`fleet`), Redis's time budgets (`budgets`) and
//! an outage (`outage`).
//!
//! Every test runs alone (`support::serial::alone`): each is a fleet of replicas on a
//! small machine whose timing is what it checks, and `budgets` and `outage` count the
//! store's events and metrics, which the binary's one global subscriber and recorder
//! collect from whatever runs.
#![cfg(all(feature = "testing", feature = "redis"))]

#[path = "../support/mod.rs"]
mod support;

mod budgets;
mod fleet;
mod outage;
