//! `FakeAily`'s own tests: it is talked to with bare hyper clients over real TCP
//! (`wire`), never through the crate's client.
//!
//! * `server`: the token endpoint, cancel, faults, transports (h2c, TLS), the log;
//! * `routes`: every route classified, token-checked, faulted and scripted;
//! * `lifecycle`: sessions, messages and runs with their schedule and pages;
//! * `trace`: no content or token in the fake's spans and events (it runs alone).
#![cfg(feature = "testing")]

// The parts of tests/support these tests use: the TRACE capture and the serial lock
// (not the client's fake-and-client setup), as `support::{serial, trace}`.
#[path = "../support/trace.rs"]
mod capture;
#[cfg(feature = "redis")]
#[path = "../redis_server/mod.rs"]
mod redis_server;
#[path = "../support/serial.rs"]
mod serial;
mod support {
    pub(crate) use super::{capture as trace, serial};
}

mod lifecycle;
mod routes;
mod server;
mod trace;
mod wire;
