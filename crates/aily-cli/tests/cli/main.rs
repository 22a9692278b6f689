//! Every test that runs the built `aily` binary (`env!("CARGO_BIN_EXE_aily")`,
//! `runner`), against `FakeAily` or `aily fake`:
//!
//! * `cli`: the commands, exit codes, errors, logging, the README's commands;
//! * `ask`: `aily ask`, its JSON lines, and the signals that cancel its run;
//! * `auth`: `aily auth` login, status, logout, and one refresh for many processes;
//! * `lifecycle`: every conversation command;
//! * `skills`, `knowledge`, `data_assets`, `app_stats`, `agents`: the commands of
//!   the rest of the API, a module per family;
//! * `causes`, `fleet`, `secrets`, `tokens`: the CLI's side of the library's
//!   subjects (tests/client, tests/fleet, tests/secrets).

#[path = "../../../../tests/support/mod.rs"]
mod support;

/// Running the built `aily` binary, bounded in time.
mod runner;

mod agents;
mod app_stats;
mod ask;
mod auth;
mod causes;
#[allow(clippy::module_inception)]
mod cli;
mod data_assets;
mod fleet;
mod knowledge;
mod lifecycle;
mod secrets;
mod skills;
mod tokens;
