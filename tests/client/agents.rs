//! The agents endpoints over real TCP to `FakeAily`: every endpoint's success, the
//! 3P error codes with each endpoint's meaning, inputs refused with nothing sent,
//! the retry class (creates sent once after a lost reply, reads retried),
//! `agent_chat` polling to the answer or to the deadline, session pages, and a real
//! multipart upload.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::agents::{
    AgentChatStatus, Attachment, CreateAgentChatRequest, CreateAgentSessionRequest, FinishReason,
    GetAgentChatRequest, ListAgentSessionsRequest, MAX_IMAGE_BYTES, UploadAgentAttachmentRequest,
};
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{AilyRequest, Client, ErrorKind, TimeoutKind, WaitOptions};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::support::{self, bounded, bounded_by};

const TOKEN: &str = "t-agents";
const AGENT: &str = "agent_1";

async fn setup() -> (FakeAily, Client) {
    let fake = support::fake_for(TOKEN).await;
    fake.add_agent(AGENT);
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    (fake, client)
}

/// Reads 5–20 ms apart, for at most `timeout`.
fn quick(timeout: Duration) -> WaitOptions {
    WaitOptions::for_agent_chat()
        .timeout(timeout)
        .interval(Duration::from_millis(5), Duration::from_millis(20))
}

fn chat(text: &str) -> CreateAgentChatRequest {
    CreateAgentChatRequest::new(AGENT, text).unwrap()
}

#[tokio::test]
async fn agent_chat_polls_until_completed_and_returns_the_fakes_answer() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.set_agent_chat_plan(2, 2, "Completed");
        fake.set_agent_answer(&["Hello", ", world"]);
        let answer = client
            .agent_chat_with(chat("Hi"), quick(Duration::from_secs(20)))
            .await
            .unwrap();
        assert_eq!(answer.text, "Hello, world");
        assert_eq!(answer.chat.status, AgentChatStatus::Completed);
        assert_eq!(answer.chat.finish_reason, Some(FinishReason::Stop));
        assert_eq!(answer.reads, 5, "2 Queued, 2 Running, then Completed");
        let (polls, session) = fake.agent_chat_polls(AGENT, &answer.agent_chat_id).unwrap();
        assert_eq!(polls, 5);
        assert_eq!(answer.session_id.as_deref(), Some(session.as_str()));
        let create = fake
            .requests()
            .into_iter()
            .find(|r| r.route == Route::CreateAgentChat)
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&create.body).unwrap();
        assert_eq!(body["stream"], false, "the background path");
        assert_eq!(
            body["user_message"]["content"],
            serde_json::json!([{"type": "text", "text": "Hi"}])
        );
    })
    .await;
}

#[tokio::test]
async fn agent_chat_stops_at_the_deadline_with_the_chat_id() {
    let (fake, client) = setup().await;
    fake.set_agent_chat_plan(0, usize::MAX, "Completed");
    let err = bounded_by(
        Duration::from_secs(20),
        client.agent_chat_with(chat("Hi"), quick(Duration::from_millis(300))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Wait));
    let id = err.agent_chat_id().expect("the chat id").to_owned();
    assert!(err.to_string().contains(&id), "{err}");
    let (polls, _) = fake.agent_chat_polls(AGENT, &id).expect("the chat exists");
    assert!(polls >= 1);
    assert_eq!(
        err.last_agent_chat().map(|c| c.status.clone()),
        Some(AgentChatStatus::Running)
    );
    assert_eq!(fake.request_count(Route::CreateAgentChat), 1);
}

#[tokio::test]
async fn agent_chat_that_fails_is_run_ended_and_carries_the_chat() {
    let (fake, client) = setup().await;
    fake.set_agent_chat_plan(0, 1, "Failed");
    let err = bounded(client.agent_chat_with(chat("Hi"), quick(Duration::from_secs(20))))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RunEnded);
    assert!(err.to_string().contains("ended Failed"), "{err}");
    assert!(err.agent_chat_id().is_some());
    assert_eq!(
        err.last_agent_chat().unwrap().status,
        AgentChatStatus::Failed
    );
}

#[tokio::test]
async fn a_lost_create_reply_is_outcome_unknown_and_never_sent_again() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::ResetAfterHandling,
        Times::Once,
    );
    let err = bounded(client.agent_chat_with(chat("Hi"), quick(Duration::from_secs(20))))
        .await
        .unwrap_err();
    assert!(err.may_have_acted());
    assert!(err.to_string().contains("outcome unknown"), "{err}");
    assert_eq!(err.agent_chat_id(), None, "its id never arrived");
    assert_eq!(fake.request_count(Route::CreateAgentChat), 1);
    assert_eq!(fake.request_count(Route::GetAgentChat), 0);
    assert_eq!(fake.agent_session_ids(AGENT).len(), 1, "the chat was made");
}

#[tokio::test]
async fn creates_are_sent_once_after_a_lost_reply_twice_when_opted_in() {
    let (fake, client) = setup().await;
    let png = || Attachment::image("a.png", "image/png", Bytes::from_static(b"\x89PNG"));
    for opt_in in [false, true] {
        fake.clear_requests();
        for route in [
            Route::CreateAgentChat,
            Route::UploadAgentAttachment,
            Route::CreateAgentSession,
        ] {
            fake.push_fault(route, Fault::ResetAfterHandling, Times::Once);
        }
        let results = [
            client
                .create_agent_chat(chat("Hi").with_idempotent(opt_in))
                .await
                .map(|_| ()),
            client
                .upload_agent_attachment(
                    UploadAgentAttachmentRequest::new(AGENT, png())
                        .unwrap()
                        .with_idempotent(opt_in),
                )
                .await
                .map(|_| ()),
            client
                .create_agent_session(
                    CreateAgentSessionRequest::new(AGENT)
                        .unwrap()
                        .with_idempotent(opt_in),
                )
                .await
                .map(|_| ()),
        ];
        for (result, route) in results.into_iter().zip([
            Route::CreateAgentChat,
            Route::UploadAgentAttachment,
            Route::CreateAgentSession,
        ]) {
            if opt_in {
                result.unwrap();
                assert_eq!(fake.request_count(route), 2, "{route:?}");
            } else {
                let err = result.unwrap_err();
                assert!(err.may_have_acted(), "{route:?}: {err}");
                assert_eq!(fake.request_count(route), 1, "{route:?}");
            }
        }
    }
}

#[tokio::test]
async fn reads_are_retried_after_a_lost_reply() {
    let (fake, client) = setup().await;
    fake.add_user_token("u-agents");
    let user = support::builder_at(&fake.base_url(), "t-unused")
        .credentials(aily_client::Credentials::user_token("u-agents"))
        .build()
        .unwrap();
    fake.add_agent_artifact(AGENT, "artifact_1", "report.pdf", "https://example.com/r");
    let created = client.create_agent_chat(chat("Hi")).await.unwrap();
    let chat_id = created.agent_chat_id.clone();
    let session_id = created.session_id.clone().unwrap();
    let reads = [
        Route::GetAgentChat,
        Route::GetAgentSession,
        Route::ListAgentSessions,
        Route::GetAgentArtifact,
        Route::CheckAgentVisibility,
    ];
    for route in reads {
        fake.push_fault(route, Fault::ResetAfterHandling, Times::Once);
    }
    fake.clear_requests();
    client.get_agent_chat(AGENT, &chat_id).await.unwrap();
    client.get_agent_session(AGENT, &session_id).await.unwrap();
    client
        .list_agent_sessions(ListAgentSessionsRequest::new(AGENT).unwrap())
        .await
        .unwrap();
    let artifact = client
        .get_agent_artifact(AGENT, "artifact_1")
        .await
        .unwrap();
    assert_eq!(artifact.agent_artifact.name, "report.pdf");
    assert!(user.check_agent_visibility(AGENT).await.unwrap().visibility);
    for route in reads {
        assert_eq!(fake.request_count(route), 2, "{route:?}");
    }
    // DELETE is retried too.
    fake.push_fault(
        Route::DeleteAgentSession,
        Fault::ResetAfterHandling,
        Times::Once,
    );
    let err = client
        .delete_agent_session(AGENT, &session_id)
        .await
        .unwrap_err();
    // The first attempt deleted it: the retry finds no session (10002).
    assert_eq!(err.code(), Some(10002));
    assert_eq!(fake.request_count(Route::DeleteAgentSession), 2);
}

#[tokio::test]
async fn sessions_are_created_read_listed_across_pages_and_deleted() {
    let (fake, client) = setup().await;
    let created = client
        .create_agent_session(
            CreateAgentSessionRequest::new(AGENT)
                .unwrap()
                .name("Support")
                .unwrap(),
        )
        .await
        .unwrap();
    let first = created.session_id.clone().unwrap();
    assert_eq!(created.name.as_deref(), Some("Support"));
    assert!(created.created_at.as_ref().unwrap().millis().is_some());
    for _ in 0..4 {
        client
            .create_agent_session(CreateAgentSessionRequest::new(AGENT).unwrap())
            .await
            .unwrap();
    }
    // One chat in the first session: its `turns` is one object on the wire.
    let asked = client
        .create_agent_chat(chat("Hi").session_id(&first).unwrap())
        .await
        .unwrap();
    let session = client.get_agent_session(AGENT, &first).await.unwrap();
    assert_eq!(session.session_id, first);
    assert_eq!(session.name, "Support");
    assert_eq!(session.turns.len(), 1);
    assert_eq!(session.turns[0].agent_chat_id, asked.agent_chat_id);
    assert_eq!(session.turns[0].status, AgentChatStatus::Queued);
    assert!(session.last_chat_at.as_ref().unwrap().millis().is_some());

    fake.clear_requests();
    let listed: Vec<_> = client
        .agent_sessions_stream(
            ListAgentSessionsRequest::new(AGENT)
                .unwrap()
                .page_size(2)
                .unwrap(),
        )
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(ids, fake.agent_session_ids(AGENT));
    assert_eq!(ids.len(), 5);
    assert!(
        listed[0].created_at.as_ref().unwrap().millis().is_some(),
        "numbers read"
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 3, "three pages: {paths:?}");
    assert!(
        paths[1].ends_with("page_size=2&page_token=pt_2"),
        "{paths:?}"
    );

    client.delete_agent_session(AGENT, &first).await.unwrap();
    assert!(!fake.agent_session_ids(AGENT).contains(&first));
    let err = client.get_agent_session(AGENT, &first).await.unwrap_err();
    assert_eq!(
        (err.code(), err.status().map(|s| s.as_u16())),
        (Some(10002), Some(404))
    );
    assert!(err.message().contains("the session is not found"), "{err}");
}

#[tokio::test]
async fn every_documented_error_says_what_it_means_on_its_endpoint() {
    let (fake, client) = setup().await;
    // 10002 on three endpoints, three meanings.
    let err = client
        .get_agent_chat(AGENT, "agent_chat_nope")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(10002));
    assert!(err.message().contains("the chat is not found"), "{err}");
    let err = client.get_agent_artifact(AGENT, "nope").await.unwrap_err();
    assert!(err.message().contains("the artifact is not found"), "{err}");
    let err = client
        .create_agent_chat(chat("Hi").session_id("conversation_nope").unwrap())
        .await
        .unwrap_err();
    assert!(err.message().contains("the session is not found"), "{err}");
    // 10001: a page token the server never issued.
    let err = client
        .list_agent_sessions(
            ListAgentSessionsRequest::new(AGENT)
                .unwrap()
                .page_token("bogus"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(10001));
    assert!(err.message().contains("validation failed"), "{err}");
    // 10007: a tenant token on the user-only visibility check; an unknown agent; an
    // attachment of another agent.
    let err = client.check_agent_visibility(AGENT).await.unwrap_err();
    assert_eq!(err.code(), Some(10007));
    assert!(err.message().contains("access denied"), "{err}");
    let err = client
        .get_agent_chat("agent_unknown", "c")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(10007));
    fake.add_agent("agent_2");
    let other = client
        .upload_agent_attachment(
            UploadAgentAttachmentRequest::new(
                "agent_2",
                Attachment::feishu_doc("https://x.feishu.cn/docx/a"),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let err = client
        .create_agent_chat(
            chat("Hi")
                .attachments([other.agent_attachment_id.clone()])
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(10007), "{err}");
    // 10006: the agent's OpenAPI channel is off.
    fake.set_agent_openapi_enabled(AGENT, false);
    let err = client.create_agent_chat(chat("Hi")).await.unwrap_err();
    assert_eq!(err.code(), Some(10006));
    assert!(err.message().contains("OpenAPI channel is off"), "{err}");
    fake.set_agent_openapi_enabled(AGENT, true);
    // 10008: the tenant has not enabled the Aily OpenAPI.
    fake.set_agents_enabled(false);
    let err = client
        .list_agent_sessions(ListAgentSessionsRequest::new(AGENT).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(10008));
    assert!(
        err.message().contains("has not enabled the Aily OpenAPI"),
        "{err}"
    );
    fake.set_agents_enabled(true);
    // 50001: internal, HTTP 500 — a read is retried, then fails saying so.
    fake.push_fault(
        Route::GetAgentArtifact,
        Fault::ApiError {
            status: 500,
            code: 50001,
            msg: "internal".into(),
        },
        Times::Always,
    );
    let err = client
        .call(
            aily_client::agents::GetAgentArtifactRequest::new(AGENT, "a")
                .unwrap()
                .with_max_attempts(2),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(50001));
    assert!(
        err.message()
            .contains("internal error of the agent service"),
        "{err}"
    );
    assert_eq!(
        fake.request_count(Route::GetAgentArtifact),
        3,
        "1 + 2 attempts"
    );
    assert_eq!(err.kind(), ErrorKind::Api);
}

#[tokio::test]
async fn invalid_inputs_are_refused_with_nothing_sent() {
    let (fake, client) = setup().await;
    let invalid = [
        CreateAgentChatRequest::new("", "hi").map(|_| ()),
        CreateAgentChatRequest::new("..", "hi").map(|_| ()),
        CreateAgentChatRequest::new(AGENT, "").map(|_| ()),
        CreateAgentChatRequest::new(AGENT, "x".repeat(10_001)).map(|_| ()),
        (1..100)
            .try_fold(chat("a"), |r, _| r.text("b"))
            .and_then(|r| r.text("one too many"))
            .map(|_| ()),
        chat("a")
            .attachments((0..9).map(|i| format!("att_{i}")))
            .map(|_| ()),
        chat("a").session_id("").map(|_| ()),
        CreateAgentSessionRequest::new(AGENT)
            .unwrap()
            .name("n".repeat(256))
            .map(|_| ()),
        GetAgentChatRequest::new(AGENT, "bad id\n").map(|_| ()),
        UploadAgentAttachmentRequest::new(
            AGENT,
            Attachment::image(
                "big.png",
                "image/png",
                Bytes::from(vec![0u8; MAX_IMAGE_BYTES + 1]),
            ),
        )
        .map(|_| ()),
        UploadAgentAttachmentRequest::new(AGENT, Attachment::bitable("")).map(|_| ()),
        UploadAgentAttachmentRequest::new(
            AGENT,
            Attachment::file("a\r\nb", "text/plain", Bytes::new()),
        )
        .map(|_| ()),
    ];
    for (i, result) in invalid.into_iter().enumerate() {
        let err = result.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "#{i}: {err}");
    }
    let err = client.get_agent_chat(AGENT, "").await.unwrap_err();
    assert!(err.to_string().contains("agent_chat_id"), "{err}");
    let err = client.delete_agent_session("", "s").await.unwrap_err();
    assert!(err.to_string().contains("agent_id"), "{err}");
    let err = client.check_agent_visibility("..").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(fake.request_count(Route::Any), 0);
}

#[tokio::test]
async fn an_upload_sends_real_multipart_bytes_the_fake_reads() {
    let (fake, client) = setup().await;
    // Bytes that look like a delimiter and are not UTF-8.
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n\r\n--not-the-boundary\xff\x00"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(100_000))
        .collect();
    let uploaded = client
        .upload_agent_attachment(
            UploadAgentAttachmentRequest::new(
                AGENT,
                Attachment::image("chart.png", "image/png", Bytes::from(image.clone())),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.agent_attachment(&uploaded.agent_attachment_id),
        Some(image)
    );
    let sent = fake.requests().pop().unwrap();
    let content_type = sent.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let doc = client
        .upload_agent_attachment(
            UploadAgentAttachmentRequest::new(
                AGENT,
                Attachment::feishu_doc("https://x.feishu.cn/docx/a"),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.agent_attachment(&doc.agent_attachment_id).as_deref(),
        Some(&b"https://x.feishu.cn/docx/a"[..])
    );
    // Both go into a chat.
    client
        .create_agent_chat(
            chat("What is in these?")
                .attachments([
                    uploaded.agent_attachment_id.clone(),
                    doc.agent_attachment_id.clone(),
                ])
                .unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn visibility_is_the_users() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_user_token("u-vis");
    fake.set_agent_visibility(AGENT, false);
    let user = support::builder_at(&fake.base_url(), "t-unused")
        .credentials(aily_client::Credentials::user_token("u-vis"))
        .build()
        .unwrap();
    assert!(!user.check_agent_visibility(AGENT).await.unwrap().visibility);
    fake.set_agent_visibility(AGENT, true);
    assert!(user.check_agent_visibility(AGENT).await.unwrap().visibility);
    let body: serde_json::Value =
        serde_json::from_slice(&fake.requests().pop().unwrap().body).unwrap();
    assert_eq!(body, serde_json::json!({"channel_type": "web_sdk"}));
}
