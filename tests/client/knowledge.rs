//! Knowledge ask over real TCP to `FakeAily`'s event stream: the snapshots and the
//! answer, the tolerant formats, each bounded failure (idle timeout, deadline, cut,
//! oversized frame, error frame, JSON error under HTTP 200), invalid input, the retry
//! class of a POST that is not idempotent, and the buffered mode.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::knowledge::{Delta, FinishType, KnowledgeAnswer, KnowledgeAskRequest};
use aily_client::sse::StreamConfig;
use aily_client::testing::{FakeAily, Fault, Route, ScriptedReply, StreamFault, Times};
use aily_client::{AilyRequest, Client, Error, ErrorKind, TimeoutKind};
use futures_util::StreamExt;

use crate::support::{self, bounded, bounded_by};

const TOKEN: &str = "t-knowledge";
const APP: &str = "spring_1__c";
const ANSWER: &str = "Aily[1] is Feishu's platform for AI apps, built on knowledge.";
const PATH: &str = "/open-apis/aily/v1/apps/spring_1__c/knowledges/ask";

async fn setup() -> (FakeAily, Client) {
    let fake = support::fake_for(TOKEN).await;
    fake.set_knowledge_answer(ANSWER);
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    (fake, client)
}

fn ask() -> KnowledgeAskRequest {
    KnowledgeAskRequest::new(APP, "What is Aily?").unwrap()
}

/// Asks and reads the stream to its end: every snapshot's text and the outcome.
async fn ask_all(
    client: &Client,
    request: KnowledgeAskRequest,
) -> (Vec<String>, Result<KnowledgeAnswer, Error>) {
    let mut stream = match client.knowledge_ask(request).await {
        Ok(stream) => stream,
        Err(err) => return (Vec::new(), Err(err)),
    };
    let mut texts = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(snapshot) => texts.push(snapshot.content),
            Err(_) => break,
        }
    }
    (texts, stream.finish().await)
}

fn assert_the_answer(answer: &KnowledgeAnswer) {
    assert_eq!(answer.content, ANSWER);
    assert!(answer.has_answer);
    assert_eq!(answer.finish_type, FinishType::Qa);
    let data = answer
        .process_data
        .as_ref()
        .expect("process_data of a qa answer");
    assert_eq!(data.chunks, ["fake knowledge chunk"]);
    assert_eq!(data.sql_data_json()[0].as_ref().unwrap()["rows"], 1);
}

#[tokio::test]
async fn cumulative_snapshots_arrive_in_order_and_the_delta_view_rebuilds_the_answer() {
    let (fake, client) = setup().await;
    fake.set_knowledge_frames(5, Duration::from_millis(5));
    let mut stream = bounded(client.knowledge_ask(ask())).await.unwrap();
    assert_eq!(stream.status(), http::StatusCode::OK);
    assert!(stream.log_id().is_some());
    let mut snapshots = Vec::new();
    let mut rebuilt = String::new();
    while let Some(snapshot) = bounded(stream.next()).await {
        let snapshot = snapshot.unwrap();
        match &snapshot.delta {
            Delta::Append(suffix) => rebuilt.push_str(suffix),
            Delta::Replace(full) => rebuilt.clone_from(full),
            other => panic!("unknown delta {other:?}"),
        }
        assert_eq!(
            rebuilt, snapshot.content,
            "the delta view rebuilds each snapshot"
        );
        snapshots.push(snapshot);
    }
    // Five cumulative `processing` snapshots, each extending the one before, then
    // the finished one, the whole text.
    assert_eq!(snapshots.len(), 6);
    for pair in snapshots.windows(2) {
        assert!(pair[1].content.starts_with(&pair[0].content));
        assert!(pair[1].content.len() > pair[0].content.len() || pair[1].finished);
    }
    assert!(snapshots.iter().rev().skip(1).all(|s| !s.finished));
    assert!(snapshots.last().unwrap().finished);
    assert_eq!(snapshots.last().unwrap().content, ANSWER);
    let answer = stream.finish().await.unwrap();
    assert_the_answer(&answer);

    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].route, Route::KnowledgeAsk);
    assert_eq!(seen[0].headers["accept"], "text/event-stream");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": {"content": "What is Aily?"}})
    );
}

#[tokio::test]
async fn a_rewritten_snapshot_is_a_replace_delta() {
    let (fake, client) = setup().await;
    // Scripted: the citation marker vanishes between frames.
    let frames = "data: {\"message\":{\"content\":\"Aily[2]\"},\"status\":\"processing\"}\n\n\
                  data: {\"message\":{\"content\":\"Aily[2]\"},\"status\":\"processing\"}\n\n\
                  data: {\"message\":{\"content\":\"Aily is\"},\"status\":\"finished\",\"finish_type\":\"faq\",\
                  \"has_answer\":false,\"faq_result\":{\"question\":\"q\",\"answer\":\"Aily is\"}}\n\n";
    fake.route(
        http::Method::POST,
        PATH,
        ScriptedReply::raw(200, "text/event-stream", frames),
    );
    let mut stream = bounded(client.knowledge_ask(ask())).await.unwrap();
    let mut deltas = Vec::new();
    while let Some(snapshot) = bounded(stream.next()).await {
        deltas.push(snapshot.unwrap().delta);
    }
    assert_eq!(
        deltas,
        [
            Delta::Append("Aily[2]".into()),
            Delta::Append(String::new()),
            Delta::Replace("Aily is".into())
        ]
    );
    let answer = stream.finish().await.unwrap();
    assert!(!answer.has_answer, "a completed call without an answer");
    assert_eq!(answer.finish_type, FinishType::Faq);
    assert_eq!(answer.faq_result.unwrap().answer, "Aily is");
}

#[tokio::test]
async fn tolerant_formats_give_the_same_answer() {
    let (fake, client) = setup().await;
    for format in [
        StreamFault::Bom,
        StreamFault::Crlf,
        StreamFault::Comments,
        StreamFault::UnknownFields,
        StreamFault::Wrapped,
    ] {
        fake.push_fault(
            Route::KnowledgeAsk,
            Fault::Stream(format.clone()),
            Times::Once,
        );
        let (texts, answer) = bounded(ask_all(&client, ask())).await;
        let answer = answer.unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_the_answer(&answer);
        assert_eq!(
            texts.len(),
            4,
            "{format:?}: three snapshots and the finished one"
        );
    }
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 5);
}

#[tokio::test]
async fn a_stalled_stream_ends_with_the_idle_timeout() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::Stall),
        Times::Once,
    );
    let request =
        ask().with_extension(StreamConfig::new().idle_timeout(Duration::from_millis(300)));
    let (texts, result) = bounded_by(Duration::from_secs(20), ask_all(&client, request)).await;
    assert_eq!(
        texts.len(),
        2,
        "the snapshots before the stall came through"
    );
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Idle));
    assert!(err.to_string().contains("idle timeout"), "{err}");
    assert!(err.log_id().is_some());
    assert_eq!(
        fake.request_count(Route::KnowledgeAsk),
        1,
        "never sent again"
    );
}

#[tokio::test]
async fn a_stalled_stream_ends_at_the_calls_deadline() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::Stall),
        Times::Once,
    );
    let request = ask().with_overall_timeout(Duration::from_millis(500));
    let (_, result) = bounded_by(Duration::from_secs(20), ask_all(&client, request)).await;
    let err = result.unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Overall), "{err}");
}

#[tokio::test]
async fn the_attempt_timeout_does_not_cut_a_stream_body() {
    let (fake, client) = setup().await;
    // Six frames 150 ms apart: the body takes far longer than the attempt timeout,
    // which ends at the headers.
    fake.set_knowledge_frames(5, Duration::from_millis(150));
    let request = ask().with_attempt_timeout(Duration::from_millis(300));
    let (texts, answer) = bounded(ask_all(&client, request)).await;
    assert_the_answer(&answer.unwrap());
    assert_eq!(texts.len(), 6);
}

#[tokio::test]
async fn a_cut_stream_ended_early_and_is_not_sent_again() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::Cut),
        Times::Once,
    );
    let (texts, result) = bounded(ask_all(&client, ask())).await;
    assert_eq!(texts.len(), 2);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("ended early"), "{err}");
    assert_eq!(err.status(), Some(http::StatusCode::OK));
    // The server acted on the ask: it is not re-sent.
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 1);
}

#[tokio::test]
async fn an_oversized_frame_is_an_error() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::OversizedFrame(256 * 1024)),
        Times::Once,
    );
    let request = ask().with_extension(StreamConfig::new().max_frame_bytes(64 * 1024));
    let (texts, result) = bounded(ask_all(&client, request)).await;
    assert_eq!(texts.len(), 1);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err}");
    assert!(err.to_string().contains("65536 bytes"), "{err}");
}

#[tokio::test]
async fn an_error_frame_ends_the_stream_with_its_code() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::ErrorFrame {
            code: 2700033,
            msg: "failed to ask knowledges".into(),
        }),
        Times::Once,
    );
    let (texts, result) = bounded(ask_all(&client, ask())).await;
    assert_eq!(texts.len(), 1);
    let err = result.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700033)));
    assert_eq!(err.msg(), Some("failed to ask knowledges"));
    assert!(err.to_string().contains("published"), "{err}");
    assert!(err.log_id().is_some());
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 1);
}

#[tokio::test]
async fn a_json_error_under_http_200_names_the_codes_meaning_here() {
    let (fake, client) = setup().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::JsonError {
            code: 2700034,
            msg: "ask disabled".into(),
        }),
        Times::Once,
    );
    let err = bounded(client.knowledge_ask(ask())).await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700034)));
    assert_eq!(err.status(), Some(http::StatusCode::OK));
    let text = err.to_string();
    assert!(
        text.contains("asking is disabled for this app — contact support"),
        "{text}"
    );
    assert!(text.contains("app identity"), "{text}");
    assert!(err.log_id().is_some());
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 1);
}

#[tokio::test]
async fn a_json_answer_with_code_0_is_the_whole_answer() {
    let (fake, client) = setup().await;
    fake.route(
        http::Method::POST,
        PATH,
        ScriptedReply::ok(serde_json::json!({
            "message": {"content": "whole"},
            "status": "finished",
            "finish_type": "qa",
            "has_answer": "true",
        })),
    );
    let (texts, answer) = bounded(ask_all(&client, ask())).await;
    assert_eq!(texts, ["whole"]);
    let answer = answer.unwrap();
    assert_eq!(answer.content, "whole");
    assert!(answer.has_answer);
}

#[tokio::test]
async fn invalid_input_is_refused_and_nothing_is_sent() {
    let (fake, _client) = setup().await;
    let long = "x".repeat(65_536);
    let long_app = "a".repeat(256);
    let cases: Vec<(&str, Result<KnowledgeAskRequest, Error>)> = vec![
        ("content", KnowledgeAskRequest::new(APP, "")),
        ("content", KnowledgeAskRequest::new(APP, long.as_str())),
        ("app_id", KnowledgeAskRequest::new("", "q")),
        ("app_id", KnowledgeAskRequest::new("a b", "q")),
        ("app_id", KnowledgeAskRequest::new(long_app.as_str(), "q")),
        ("data_asset_ids", ask().data_asset_ids([""])),
        ("data_asset_tag_ids", ask().data_asset_tag_ids(["tag", " "])),
    ];
    for (field, result) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    // The longest content and app id are fine.
    assert!(KnowledgeAskRequest::new("a".repeat(255), "x".repeat(65_535)).is_ok());
    assert_eq!(fake.request_count(Route::Any), 0);
}

#[tokio::test]
async fn the_fakes_own_validation_is_the_crates_error() {
    let (fake, client) = setup().await;
    // The client refuses an empty question; a raw body shows the server's check.
    let mut request = ask();
    request.body_mut().unwrap().message.content = String::new();
    let err = bounded(client.knowledge_ask(request)).await.unwrap_err();
    assert_eq!(err.code(), Some(2700001));
    assert!(
        err.to_string()
            .contains("knowledge ask: a parameter is invalid"),
        "{err}"
    );
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 1);
}

#[tokio::test]
async fn a_503_before_the_stream_is_retried_only_when_the_caller_opts_in() {
    let (fake, client) = setup().await;
    fake.push_fault(Route::KnowledgeAsk, Fault::Status(503), Times::Once);
    let err = bounded(client.knowledge_ask(ask())).await.unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(
        fake.request_count(Route::KnowledgeAsk),
        1,
        "not idempotent: not re-sent"
    );

    fake.push_fault(Route::KnowledgeAsk, Fault::Status(503), Times::Once);
    let (_, answer) = bounded(ask_all(&client, ask().with_idempotent(true))).await;
    assert_the_answer(&answer.unwrap());
    assert_eq!(
        fake.request_count(Route::KnowledgeAsk),
        3,
        "the opt-in retried the 503"
    );
}

#[tokio::test]
async fn a_rate_limit_refusal_is_retried_after_its_reset() {
    let (fake, client) = setup().await;
    fake.push_fault(Route::KnowledgeAsk, Fault::rate_limited(1), Times::Once);
    let (_, answer) = bounded(ask_all(&client, ask())).await;
    assert_the_answer(&answer.unwrap());
    assert_eq!(
        fake.request_count(Route::KnowledgeAsk),
        2,
        "refused, then answered"
    );
}

#[tokio::test]
async fn the_buffered_mode_returns_the_same_answer() {
    let (fake, client) = setup().await;
    let reply = bounded(client.call(ask())).await.unwrap();
    assert_the_answer(&reply);
    assert!(reply.log_id().is_some());
    // The same rules: a cut stream is an error, never a partial answer.
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::Cut),
        Times::Once,
    );
    let err = bounded(client.call(ask())).await.unwrap_err();
    assert!(err.to_string().contains("ended early"), "{err}");
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::ErrorFrame {
            code: 2700035,
            msg: "timeout".into(),
        }),
        Times::Once,
    );
    let err = bounded(client.call(ask())).await.unwrap_err();
    assert_eq!(err.code(), Some(2700035));
    assert!(err.to_string().contains("took too long"), "{err}");
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 3);
}

/// The codes §3 documents for knowledge ask (and the one seen live), each as a JSON
/// error reply — under HTTP 200 or 400 — and as an error frame: the code, its meaning
/// on this endpoint, never retried (one request each).
#[tokio::test]
async fn every_documented_code_says_what_it_means_on_this_endpoint() {
    let (fake, client) = setup().await;
    let cases = [
        (2700001, "a parameter is invalid"),
        (2700033, "allow API/SDK calls with the app identity"),
        (2700034, "asking is disabled for this app"),
        (2700035, "took too long"),
        (2320008, "Feishu bot"),
    ];
    let mut sent = 0;
    for (code, meaning) in cases {
        for fault in [
            Fault::Stream(StreamFault::JsonError {
                code,
                msg: "from the fake".into(),
            }),
            Fault::api_error(400, code, "from the fake"),
            Fault::Stream(StreamFault::ErrorFrame {
                code,
                msg: "from the fake".into(),
            }),
        ] {
            fake.push_fault(Route::KnowledgeAsk, fault.clone(), Times::Once);
            let err = bounded(async { client.knowledge_ask(ask()).await?.finish().await })
                .await
                .unwrap_err();
            sent += 1;
            assert_eq!(err.code(), Some(code), "{fault:?}: {err}");
            assert!(err.to_string().contains(meaning), "{fault:?}: {err}");
            assert_eq!(fake.request_count(Route::KnowledgeAsk), sent, "{fault:?}");
        }
    }
}
