//! The run journal across real processes: a built `aily` SIGKILLed mid-run (or
//! between its create request and the reply), and a later process — another `aily`
//! on the same journal directory (`file`), or replicas on one Redis (`redis`) —
//! cancelling its orphan exactly once. Its own binary: the Redis tests install
//! the process's global subscriber to count the journal's WARNs.
#![cfg(unix)]

#[path = "../../../../tests/support/mod.rs"]
mod support;

/// Running the built `aily` binary (shared with tests/cli).
#[path = "../cli/runner.rs"]
#[allow(dead_code)] // the journal tests use `command` alone
mod runner;

mod file;
mod redis;
