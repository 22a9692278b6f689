//! What the client shows of itself: spans and events (`spans`), metrics through the
//! facade (`metrics`) and into OpenTelemetry (`metrics_otel`), and the README's
//! drawing of the default stack (`stack_drawing`).
//!
//! The span recorder is the binary's one global subscriber (`support::trace`); the
//! metrics tests record through local recorders, so they run side by side.

#[path = "../support/mod.rs"]
mod support;

mod metrics;
mod metrics_otel;
mod spans;
mod stack_drawing;
