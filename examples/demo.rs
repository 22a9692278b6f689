//! The demo: start the fake Feishu server in-process, and cancel a run through the
//! full default stack, showing what crossed the wire.
//!
//! ```text
//! cargo run --example demo --features testing
//! ```

use aily_client::testing::FakeAily;
use aily_client::{Client, Credentials};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A fake Feishu on 127.0.0.1, with a tenant token and a run in progress.
    let fake = FakeAily::start().await?;
    let token = "t-demo-tenant-token";
    fake.add_tenant_token(token);
    fake.add_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj");
    println!("fake Feishu listening on {}", fake.base_url());
    println!(
        "run run_4dfrxvctjqzzj is {}",
        fake.run_status("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj")
            .unwrap_or_default()
    );

    // 2. The client, with the default stack, pointed at it.
    let client = Client::builder()
        .credentials(Credentials::tenant_token(token))
        .base_url(fake.base_url())
        .build()?;
    println!("client: {client:?}");

    // 3. Cancel the run.
    let reply = client
        .cancel_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj")
        .await?;
    for req in fake.requests() {
        println!(
            "server received: {} {} ({:?}, authorization: Bearer <{} bytes>)",
            req.method,
            req.path,
            req.version,
            req.headers
                .get("authorization")
                .map_or(0, |v| v.len().saturating_sub("Bearer ".len()))
        );
    }
    println!(
        "cancelled run: {}",
        serde_json::to_string_pretty(&reply.run)?
    );
    println!("log id: {}", reply.log_id().unwrap_or("-"));

    // 4. What failures look like: an invalid ID never leaves the process, and an
    //    unknown run comes back as Feishu's error with its code and log id.
    let before = fake.requests().len();
    let invalid = client
        .cancel_run("session_4dfunz7sp1g8m", "..")
        .await
        .unwrap_err();
    println!(
        "invalid id: {invalid} (requests sent: {})",
        fake.requests().len() - before
    );
    let unknown = client
        .cancel_run("session_4dfunz7sp1g8m", "run_does_not_exist")
        .await
        .unwrap_err();
    println!("unknown run: {unknown}");
    Ok(())
}
