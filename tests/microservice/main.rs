//! The example microservice (examples/microservice.rs) over real HTTP: each row of its
//! error table, the inbound span over the client's spans, and cancel on disconnect
//! (`service`); its `GET /metrics` scrape (`metrics`).
//!
//! `metrics` installs the process's global metrics recorder, as the example's `main`
//! does, and counts what it scrapes: it runs alone, and the others stand aside for it
//! (`support::serial`).
#![cfg(all(feature = "testing", feature = "metrics"))]

#[path = "../support/mod.rs"]
mod support;

#[path = "../../examples/microservice.rs"]
mod microservice;

mod metrics;
mod service;
