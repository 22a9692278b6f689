//! Nothing secret or private reaches the trace output: the TRACE capture of every span
//! and event (the binary's one global subscriber, `support::trace`) holds no secret or
//! token (`trace_secrets`), no message content while asking (`ask_trace`), and no
//! content over every endpoint (`lifecycle_trace`).
//!
//! Each test reads the whole capture, so each runs alone (`support::trace::alone`).
#![cfg(feature = "testing")]

#[path = "../support/mod.rs"]
mod support;

mod ask_trace;
mod lifecycle_trace;
mod trace_secrets;
