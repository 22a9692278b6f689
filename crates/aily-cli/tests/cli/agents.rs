//! The built `aily` binary's `aily agent chat` against FakeAily over real TCP: the
//! chat created and read until done, printed as JSON; exit codes.

use std::time::Duration;

use crate::runner::{
    aily_at, aily_at_within, aily_one, assert_api_failure, assert_refused, assert_timed_out, text,
};
use crate::support::fake;
use aily_client::testing::Route;

const AGENT: &str = "agent_cli";

#[tokio::test]
async fn agent_chat_prints_the_answer_and_goes_on_in_a_session() {
    let fake = fake().await;
    fake.add_agent(AGENT);
    fake.set_agent_chat_plan(0, 1, "Completed");
    let first = aily_one(&fake, &["agent", "chat", AGENT, "hello"]).await;
    assert_eq!(first["status"], "Completed", "{first}");
    assert_eq!(first["finish_reason"], "stop", "{first}");
    assert_eq!(first["text"], "This is the fake agent's answer to: hello");
    assert_eq!(first["content"][0]["type"], "text", "{first}");
    let chat = first["agent_chat_id"].as_str().unwrap();
    let session = first["session_id"].as_str().unwrap().to_owned();
    let (polls, polled_session) = fake.agent_chat_polls(AGENT, chat).unwrap();
    assert!(polls >= 2, "read until done: {polls}");
    assert_eq!(polled_session, session);

    let second = aily_one(
        &fake,
        &["agent", "chat", AGENT, "again", "--session", &session],
    )
    .await;
    assert_eq!(second["session_id"], session.as_str());
    assert_eq!(fake.agent_session_ids(AGENT), vec![session]);
    assert_eq!(fake.request_count(Route::CreateAgentChat), 2);
}

#[tokio::test]
async fn agent_chat_invalid_input_exits_2_and_sends_nothing() {
    let fake = fake().await;
    assert_refused(
        &fake,
        &[
            (&["agent", "chat", "..", "hi"], "agent_id"),
            (&["agent", "chat", "a b", "hi"], "agent_id"),
            (&["agent", "chat", AGENT, "hi", "--session", ""], "session"),
            (&["agent", "chat", AGENT], "TEXT"),
        ],
    )
    .await;
}

#[tokio::test]
async fn agent_chat_failures_exit_1_with_one_line() {
    let fake = fake().await;
    // An agent the tenant cannot reach: 403, code 10007.
    let out = aily_at(&fake, &["agent", "chat", "agent_unknown", "hi"]).await;
    assert_api_failure(&fake, &out, 10007);
    assert!(out.stdout.is_empty());
    assert_eq!(
        fake.request_count(Route::CreateAgentChat),
        1,
        "never re-created"
    );

    // A chat that fails: exit 1, the status named.
    fake.add_agent(AGENT);
    fake.set_agent_chat_plan(0, 0, "Failed");
    let out = aily_at(&fake, &["agent", "chat", AGENT, "hi"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Failed"), "{stderr}");
}

#[tokio::test]
async fn agent_chat_timeout_bounds_a_chat_that_never_ends() {
    let fake = fake().await;
    fake.add_agent(AGENT);
    fake.set_agent_chat_plan(0, usize::MAX, "Completed");
    let out = aily_at_within(
        Duration::from_secs(20),
        &fake,
        &["agent", "chat", AGENT, "hi", "--timeout", "1.5"],
    )
    .await;
    assert_timed_out(&out);
}
