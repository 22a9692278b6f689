//! The agent chat's event stream over real TCP to `FakeAily`: start, the deltas in
//! order and done, the answer the fake's text; unknown events and fields tolerated;
//! a stall, a cut or an error event after `start` falling back to chat get; a death
//! before `start` "outcome unknown" with one create; a JSON error under HTTP 200; a
//! lost reply never re-sent; the deadline; a `done` that failed; a JSON success.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::agents::{
    AgentChatEvent, AgentChatStatus, AgentChatStream, CreateAgentChatRequest, DeltaType,
};
use aily_client::sse::StreamConfig;
use aily_client::testing::{FakeAily, Fault, Route, ScriptedReply, StreamFault, Times};
use aily_client::{AilyRequest, Client, Error, ErrorKind, TimeoutKind, WaitOptions};
use futures_util::StreamExt;

use crate::support::{self, bounded, bounded_by};

const TOKEN: &str = "t-agent-stream";
const AGENT: &str = "agent_1";
const PIECES: [&str; 3] = ["Streams ", "are opt-", "in."];
const ANSWER: &str = "Streams are opt-in.";

async fn setup() -> (FakeAily, Client) {
    let fake = support::fake_for(TOKEN).await;
    fake.add_agent(AGENT);
    fake.set_agent_answer(&PIECES);
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    (fake, client)
}

fn chat() -> CreateAgentChatRequest {
    CreateAgentChatRequest::new(AGENT, "Are streams the default?").unwrap()
}

/// A stream that falls silent for 300 ms is left.
fn impatient() -> CreateAgentChatRequest {
    chat().with_extension(StreamConfig::new().idle_timeout(Duration::from_millis(300)))
}

/// Reads 5–20 ms apart, for at most `timeout`.
fn quick(timeout: Duration) -> WaitOptions {
    WaitOptions::for_agent_chat_stream()
        .timeout(timeout)
        .interval(Duration::from_millis(5), Duration::from_millis(20))
}

/// Opens the stream and reads it to its end: every item (an event, or the error
/// that ended it, as its message), then the stream for `finish`.
async fn read_all(
    client: &Client,
    request: CreateAgentChatRequest,
    options: WaitOptions,
) -> (Vec<Result<AgentChatEvent, Error>>, AgentChatStream) {
    let mut stream = client
        .agent_chat_stream_with(request, options)
        .await
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    (items, stream)
}

fn names(items: &[Result<AgentChatEvent, Error>]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Ok(AgentChatEvent::Start { .. }) => "start".to_owned(),
            Ok(AgentChatEvent::MessageDelta { .. }) => "delta".to_owned(),
            Ok(AgentChatEvent::Done { .. }) => "done".to_owned(),
            Ok(AgentChatEvent::Error { .. }) => "error".to_owned(),
            Ok(AgentChatEvent::Unknown { event, .. }) => format!("unknown {event}"),
            Ok(other) => format!("{other:?}"),
            Err(err) => format!("Err {}", err.kind()),
        })
        .collect()
}

/// The create sent: `stream: true`, `Accept: text/event-stream`, once.
fn assert_one_streamed_create(fake: &FakeAily) {
    let creates: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::CreateAgentChat)
        .collect();
    assert_eq!(creates.len(), 1, "sent once");
    assert_eq!(creates[0].headers["accept"], "text/event-stream");
    let body: serde_json::Value = serde_json::from_slice(&creates[0].body).unwrap();
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn the_stream_yields_start_the_deltas_in_order_and_done_and_the_answer_is_the_fakes() {
    let (fake, client) = setup().await;
    fake.set_agent_stream_frames(4, Duration::from_millis(5));
    let (items, stream) = bounded(read_all(&client, chat(), quick(Duration::from_secs(20)))).await;
    assert_eq!(
        names(&items),
        ["start", "delta", "delta", "delta", "delta", "done"]
    );
    let events: Vec<AgentChatEvent> = items.into_iter().map(Result::unwrap).collect();
    let AgentChatEvent::Start {
        agent_chat_id,
        session_id,
    } = &events[0]
    else {
        panic!("{:?}", events[0]);
    };
    assert_eq!(stream.agent_chat_id(), Some(agent_chat_id.as_str()));
    assert_eq!(stream.session_id(), session_id.as_deref());
    let pieces: Vec<&str> = events.iter().filter_map(|e| e.content_text()).collect();
    assert_eq!(pieces.len(), 4);
    assert!(pieces.iter().all(|p| !p.is_empty()));
    assert_eq!(pieces.concat(), ANSWER, "the deltas, in order");
    assert!(matches!(
        events[5],
        AgentChatEvent::Done {
            status: AgentChatStatus::Completed,
            ..
        }
    ));
    assert_eq!(stream.text(), ANSWER);
    assert_eq!(stream.status(), http::StatusCode::OK);
    assert!(stream.log_id().is_some());

    let id = agent_chat_id.clone();
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_eq!(answer.agent_chat_id, id);
    assert_eq!(answer.chat.status, AgentChatStatus::Completed);
    assert_eq!(answer.chat.text(), ANSWER);
    assert_eq!(answer.reads, 0, "the stream gave it whole");
    assert_eq!(fake.request_count(Route::GetAgentChat), 0);
    assert_one_streamed_create(&fake);
    // Chat get agrees: the fake's chat is complete, with the same text.
    let read = client.get_agent_chat(AGENT, &id).await.unwrap();
    assert_eq!(
        (read.status.clone(), read.text()),
        (AgentChatStatus::Completed, ANSWER.to_owned())
    );
}

#[tokio::test]
async fn finish_alone_reads_the_whole_stream() {
    let (fake, client) = setup().await;
    let stream = bounded(client.agent_chat_stream(chat())).await.unwrap();
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.reads), (ANSWER, 0));
    assert_eq!(answer.session_id, fake.agent_session_ids(AGENT).pop());
}

#[tokio::test]
async fn unknown_events_fields_and_delta_types_are_tolerated() {
    let (fake, client) = setup().await;
    // Unknown events before every frame, unknown fields and field lines in every one.
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::UnknownFields),
        Times::Once,
    );
    let (items, stream) = bounded(read_all(&client, chat(), quick(Duration::from_secs(20)))).await;
    let names = names(&items);
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(
        names
            .iter()
            .step_by(2)
            .all(|n| n == "unknown a_future_event"),
        "{names:?}"
    );
    assert_eq!(bounded(stream.finish()).await.unwrap().text, ANSWER);
    // The other format variants give the same answer.
    for format in [StreamFault::Bom, StreamFault::Crlf, StreamFault::Comments] {
        fake.push_fault(
            Route::CreateAgentChat,
            Fault::Stream(format.clone()),
            Times::Once,
        );
        let stream = bounded(client.agent_chat_stream(chat())).await.unwrap();
        let answer = bounded(stream.finish()).await;
        assert_eq!(answer.unwrap().text, ANSWER, "{format:?}");
    }

    // A stream as a third-party client saw it: reasoning and tool deltas, events and
    // fields this version does not know, an `event:`-less keep-alive.
    let frames = "event: start\ndata: {\"agent_chat_id\":\"agent_chat_x\",\"session_id\":\"s\",\"extra\":[1]}\n\n\
                  event: message_delta\ndata: {\"delta\":{\"type\":\"reasoning\",\"text\":\"thinking\"}}\n\n\
                  event: message_delta\ndata: {\"delta\":{\"type\":\"content\",\"text\":\"Hi\",\"lang\":\"en\"}}\n\n\
                  event: tool_call\ndata: {\"name\":\"search\"}\n\n\
                  data: {}\n\n\
                  event: message_delta\ndata: {\"delta\":{\"type\":\"tool_output\",\"text\":\"{}\"}}\n\n\
                  event: message_delta\ndata: {\"delta\":{\"type\":\"content\",\"text\":\" there\"}}\n\n\
                  event: done\ndata: {\"agent_chat_id\":\"agent_chat_x\",\"status\":\"Completed\",\"usage\":{}}\n\n";
    fake.route(
        http::Method::POST,
        "/open-apis/aily/v1/agents/agent_1/chats",
        ScriptedReply::raw(200, "text/event-stream", frames),
    );
    let (items, stream) = bounded(read_all(&client, chat(), quick(Duration::from_secs(20)))).await;
    let events: Vec<AgentChatEvent> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(events.len(), 8);
    assert!(matches!(
        &events[1],
        AgentChatEvent::MessageDelta { delta_type: DeltaType::Unknown(t), text, .. }
            if t == "reasoning" && text == "thinking"
    ));
    assert!(matches!(&events[3], AgentChatEvent::Unknown { event, .. } if event == "tool_call"));
    assert!(matches!(&events[4], AgentChatEvent::Unknown { event, .. } if event == "message"));
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!(answer.text, "Hi there", "content deltas only");
    assert_eq!(answer.agent_chat_id, "agent_chat_x");
}

#[tokio::test]
async fn a_stall_after_start_falls_back_to_chat_get_and_returns_the_answer() {
    let (fake, client) = setup().await;
    fake.set_agent_chat_plan(1, 1, "Completed");
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::Stall),
        Times::Once,
    );
    let (items, stream) = bounded_by(
        Duration::from_secs(20),
        read_all(&client, impatient(), quick(Duration::from_secs(20))),
    )
    .await;
    assert_eq!(names(&items), ["start", "delta", "Err timeout"]);
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Idle), "{err}");
    let id = stream.agent_chat_id().unwrap().to_owned();
    let answer = bounded_by(Duration::from_secs(20), stream.finish())
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER, "chat get's text, the authority");
    assert_eq!(answer.agent_chat_id, id);
    assert_eq!(answer.chat.status, AgentChatStatus::Completed);
    // Queued, Running, Completed: the first read at once, each a chat get.
    assert_eq!(answer.reads, 3);
    assert_eq!(fake.agent_chat_polls(AGENT, &id).unwrap().0, 3);
    assert_one_streamed_create(&fake);
}

#[tokio::test]
async fn a_cut_after_start_falls_back_the_same() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::Cut),
        Times::Once,
    );
    let (items, stream) = bounded(read_all(&client, chat(), quick(Duration::from_secs(20)))).await;
    assert_eq!(names(&items), ["start", "delta", "Err transport error"]);
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert!(err.to_string().contains("ended early"), "{err}");
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    assert!(answer.reads >= 1);
    assert_one_streamed_create(&fake);
}

#[tokio::test]
async fn an_error_event_after_start_is_handed_out_then_falls_back() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::ErrorFrame {
            code: 50001,
            msg: "internal".into(),
        }),
        Times::Once,
    );
    let (items, stream) = bounded(read_all(&client, chat(), quick(Duration::from_secs(20)))).await;
    assert_eq!(names(&items), ["start", "error"]);
    assert!(matches!(
        items[1],
        Ok(AgentChatEvent::Error {
            code: Some(50001),
            ..
        })
    ));
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_one_streamed_create(&fake);
}

#[tokio::test]
async fn a_failure_before_start_is_outcome_unknown_and_never_created_again() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::Silent),
        Times::Once,
    );
    let (items, stream) = bounded_by(
        Duration::from_secs(20),
        read_all(&client, impatient(), quick(Duration::from_secs(20))),
    )
    .await;
    assert_eq!(names(&items), ["Err timeout"]);
    assert_eq!(stream.agent_chat_id(), None);
    let err = bounded(stream.finish()).await.unwrap_err();
    assert!(err.to_string().contains("outcome unknown"), "{err}");
    assert!(err.may_have_acted());
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Idle));
    assert_eq!(err.agent_chat_id(), None, "its id never arrived");
    assert_eq!(fake.request_count(Route::CreateAgentChat), 1);
    assert_eq!(fake.request_count(Route::GetAgentChat), 0);
    assert_eq!(fake.agent_session_ids(AGENT).len(), 1, "the chat was made");
    assert_one_streamed_create(&fake);
}

#[tokio::test]
async fn a_lost_reply_is_outcome_unknown_and_never_sent_again() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::ResetAfterHandling,
        Times::Once,
    );
    let err = bounded(client.agent_chat_stream(chat())).await.unwrap_err();
    assert!(err.may_have_acted(), "{err}");
    assert!(err.to_string().contains("outcome unknown"), "{err}");
    assert_eq!(fake.request_count(Route::CreateAgentChat), 1);
    assert_eq!(fake.agent_session_ids(AGENT).len(), 1, "the chat was made");
}

#[tokio::test]
async fn a_json_error_under_http_200_is_that_error() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::JsonError {
            code: 10006,
            msg: "channel off".into(),
        }),
        Times::Once,
    );
    let err = bounded(client.agent_chat_stream(chat())).await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(10006)));
    assert_eq!(err.status(), Some(http::StatusCode::OK));
    assert!(
        err.message().contains("the OpenAPI channel is off"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("outcome unknown"),
        "refused: {err}"
    );
    assert!(!err.may_have_acted());
    assert_eq!(fake.request_count(Route::CreateAgentChat), 1);
    assert!(fake.agent_session_ids(AGENT).is_empty(), "nothing created");
}

#[tokio::test]
async fn the_deadline_ends_the_stream_and_the_reading_with_the_chat_id() {
    let (fake, client) = setup().await;
    fake.set_agent_chat_plan(0, usize::MAX, "Completed");
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::Stall),
        Times::Once,
    );
    // The stream stalls within its idle timeout (60 s): the wait's deadline ends it.
    let stream = bounded(client.agent_chat_stream_with(chat(), quick(Duration::from_millis(500))))
        .await
        .unwrap();
    let err = bounded_by(Duration::from_secs(20), stream.finish())
        .await
        .unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Wait), "{err}");
    let id = err.agent_chat_id().expect("the chat's id").to_owned();
    assert!(
        err.to_string().contains("the event stream was left"),
        "{err}"
    );
    assert!(fake.agent_chat_polls(AGENT, &id).is_some());
    assert_eq!(fake.request_count(Route::CreateAgentChat), 1);
}

#[tokio::test]
async fn a_done_that_failed_is_run_ended_with_the_chat_id() {
    let (fake, client) = setup().await;
    fake.set_agent_chat_plan(0, 0, "Failed");
    let stream = bounded(client.agent_chat_stream(chat())).await.unwrap();
    let err = bounded(stream.finish()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RunEnded);
    assert!(err.to_string().contains("ended Failed"), "{err}");
    assert!(err.agent_chat_id().is_some());
    assert_eq!(
        err.last_agent_chat().map(|c| c.status.clone()),
        Some(AgentChatStatus::Failed)
    );
    assert_eq!(fake.request_count(Route::GetAgentChat), 0);
}

#[tokio::test]
async fn a_json_success_instead_of_a_stream_is_read_with_chat_get() {
    let (fake, client) = setup().await;
    let created = client.create_agent_chat(chat()).await.unwrap();
    // The server ignores `stream: true` and answers as without it.
    fake.route(
        http::Method::POST,
        "/open-apis/aily/v1/agents/agent_1/chats",
        ScriptedReply::ok(serde_json::json!({"agent_chat_id": created.agent_chat_id})),
    );
    let (items, stream) = bounded(read_all(&client, chat(), quick(Duration::from_secs(20)))).await;
    assert_eq!(names(&items), ["start"]);
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!(answer.agent_chat_id, created.agent_chat_id);
    assert_eq!(answer.text, ANSWER);
    assert!(answer.reads >= 1);
}

#[tokio::test]
async fn an_error_event_or_a_broken_start_before_start_is_outcome_unknown() {
    let (fake, client) = setup().await;
    let cases = [
        (
            "event: error\ndata: {\"code\":10007,\"msg\":\"denied\"}\n\n",
            ErrorKind::Api,
        ),
        (
            "event: start\ndata: {\"session_id\":\"s\"}\n\n",
            ErrorKind::Decode,
        ),
        ("event: ping\ndata: {}\n\n", ErrorKind::Transport),
    ];
    for (body, kind) in cases {
        fake.route(
            http::Method::POST,
            "/open-apis/aily/v1/agents/agent_1/chats",
            ScriptedReply::raw(200, "text/event-stream", body),
        );
        let stream = bounded(client.agent_chat_stream(chat())).await.unwrap();
        let err = bounded(stream.finish()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{body:?}: {err}");
        assert!(err.to_string().contains("outcome unknown"), "{err}");
        assert!(err.may_have_acted());
        if kind == ErrorKind::Api {
            assert_eq!(err.code(), Some(10007));
            assert!(err.message().contains("access denied"), "{err}");
        }
    }
    let sent = fake.requests();
    assert_eq!(sent.len(), 3, "each sent once, no chat get");
    assert!(sent.iter().all(|r| r.method == http::Method::POST));
}

#[tokio::test]
async fn an_oversized_frame_after_start_falls_back() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::CreateAgentChat,
        Fault::Stream(StreamFault::OversizedFrame(256 * 1024)),
        Times::Once,
    );
    let request = chat().with_extension(StreamConfig::new().max_frame_bytes(64 * 1024));
    let (items, stream) = bounded(read_all(&client, request, quick(Duration::from_secs(20)))).await;
    assert_eq!(names(&items), ["start", "Err body too large"]);
    let answer = bounded(stream.finish()).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    assert!(answer.reads >= 1);
}

#[test]
fn the_stream_and_its_finish_can_move_across_tasks() {
    fn send<T: Send + 'static>(_: &T) {}
    fn stream_is_send(stream: AgentChatStream) {
        send(&stream);
        send(&stream.finish());
    }
    let _ = stream_is_send;
}
