//! `FakeAily`'s own tests: it is talked to with bare hyper clients over real TCP
//! (`wire`), never through the crate's client.
//!
//! * `server`: the token endpoint, cancel, faults, transports (h2c, TLS), the log;
//! * `routes`: every route classified, token-checked, faulted and scripted;
//! * `agents`: the agents routes and app stats: chats over polls, the multipart upload, the codes;
//! * `apps`: the skill and data-asset routes (the multipart upload, create's checks);
//! * `knowledge`: knowledge ask's event stream and its stream faults;
//! * `lifecycle`: (in the library's tests/client, `fake_replies`: it reads the
//!   fake's replies with the client's models);
//! * `trace`: no content or token in the fake's spans and events (it runs alone).

// The parts of the workspace's tests/support these tests use: the TRACE capture and
// the serial lock (not the client's fake-and-client setup), as `support::{serial, trace}`.
#[path = "../../../../tests/support/trace.rs"]
mod capture;
#[path = "../../../../tests/support/serial.rs"]
mod serial;
mod support {
    pub(crate) use super::{capture as trace, serial};
}

mod agents;
mod apps;
mod knowledge;
mod routes;
mod server;
mod trace;
mod wire;
