//! Calling flat out: through every client, several tasks each call one operation back
//! to back for a while, as fast as the client's rate limit lets them; and the
//! operations Feishu publishes a limit for, as such a test calls them against the
//! fake ([`Limited`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aily_client::knowledge::KnowledgeAskRequest;
use aily_client::runs::CreateRunRequest;
use aily_client::testing::{FakeAily, FakeRateLimit, Route};
use aily_client::{Client, Error, ErrorKind};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// One call of the operation under test, through a client.
pub type Call = fn(Client) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// What the calls of [`flat_out`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlatOut {
    /// Calls that succeeded (sent and answered).
    pub sent: usize,
    /// Calls the client's limiter failed fast (`RateLimited`, no server code), each
    /// followed by a nap of its `retry_after` (at most 50 ms).
    pub held: usize,
}

/// Through every client, `tasks` tasks each make `call` back to back until `run_for`
/// has passed (a call under way then finishes). Any failure but the client's own
/// rate-limit refusal fails the test: a server's 429 included.
pub async fn flat_out(clients: &[Client], tasks: usize, run_for: Duration, call: Call) -> FlatOut {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for client in clients {
        for _ in 0..tasks {
            let client = client.clone();
            set.spawn(async move {
                let mut out = FlatOut::default();
                while started.elapsed() < run_for {
                    match call(client.clone()).await {
                        Ok(()) => out.sent += 1,
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
                            assert_eq!(e.code(), None, "a server refusal: {e}");
                            out.held += 1;
                            let wait = e.retry_after().expect("retry_after");
                            tokio::time::sleep(wait.min(Duration::from_millis(50))).await;
                        }
                    }
                }
                out
            });
        }
    }
    let mut total = FlatOut::default();
    while let Some(out) = set.join_next().await {
        let out = out.expect("task");
        total.sent += out.sent;
        total.held += out.held;
    }
    total
}

/// `cancel_run("s", "r")` (the run [`super::fake_with_app`] adds).
pub fn cancel(client: Client) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> {
    Box::pin(async move { client.cancel_run("s", "r").await.map(drop) })
}

/// An operation Feishu publishes a limit for, as a flat-out test calls it: the fake's
/// route, that limit as the fake enforces it, what the fake needs first, the call.
#[derive(Clone, Copy)]
pub struct Limited {
    pub route: Route,
    pub limit: FakeRateLimit,
    pub prepare: fn(&FakeAily),
    pub call: Call,
}

/// The session [`create_run`] creates its runs on.
pub const RUN_SESSION: &str = "session_flat_out";

/// Create run: published 100/min. Runs complete as they are created, so the session
/// never has an active run in the way of the next.
pub fn create_run() -> Limited {
    Limited {
        route: Route::CreateRun,
        limit: FakeRateLimit::per_minute(100),
        prepare: |fake| {
            fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
            fake.add_session(RUN_SESSION);
        },
        call: |client| {
            Box::pin(async move {
                let request = CreateRunRequest::new(RUN_SESSION, super::APP)?;
                client.create_run(request).await.map(drop)
            })
        },
    }
}

/// Knowledge ask: published 100/min. Each call reads the whole event stream to its
/// `finished` frame (one frame, no pause).
pub fn knowledge_ask() -> Limited {
    Limited {
        route: Route::KnowledgeAsk,
        limit: FakeRateLimit::per_minute(100),
        prepare: |fake| {
            fake.set_knowledge_answer("Flat out, and never refused.");
            fake.set_knowledge_frames(1, Duration::ZERO);
        },
        call: |client| {
            Box::pin(async move {
                let request = KnowledgeAskRequest::new(super::APP, "How fast may we ask?")?;
                let answer = client.knowledge_ask(request).await?.finish().await?;
                assert_eq!(answer.content, "Flat out, and never refused.");
                Ok(())
            })
        },
    }
}
