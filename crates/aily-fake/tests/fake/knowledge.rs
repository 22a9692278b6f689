//! Knowledge ask, read with bare hyper: the event stream (cumulative frames, then
//! `finished`), its validation, and every `StreamFault`.

use std::time::Duration;

use aily_fake::{FakeAily, Fault, Route, StreamFault, Times};
use http::Method;
use serde_json::{Value, json};

use crate::wire::{self, Reply, bounded, call};

const ASK: &str = "/open-apis/aily/v1/apps/spring_1__c/knowledges/ask";

async fn fake() -> FakeAily {
    let fake = wire::fake_with_token().await;
    fake.set_knowledge_answer("one two three four");
    fake
}

async fn ask(fake: &FakeAily) -> Reply {
    call(
        fake,
        Method::POST,
        ASK,
        Some(json!({"message": {"content": "q"}})),
    )
    .await
}

/// The `data:` payloads of a complete event-stream body (LF line ends).
fn payloads(reply: &Reply) -> Vec<Value> {
    let text = std::str::from_utf8(&reply.body).expect("UTF-8");
    text.split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let data = frame.strip_prefix("data: ").expect("one data line a frame");
            serde_json::from_str(data).expect("JSON payload")
        })
        .collect()
}

#[tokio::test]
async fn the_answer_is_an_event_stream_of_cumulative_frames_then_finished() {
    bounded(async {
        let fake = fake().await;
        let reply = ask(&fake).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        assert!(reply.header("content-length").is_none(), "streamed");
        assert!(!reply.log_id().is_empty());
        let frames = payloads(&reply);
        let texts: Vec<&str> = frames
            .iter()
            .map(|f| f["message"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "one tw",
                "one two thre",
                "one two three four",
                "one two three four"
            ]
        );
        assert!(frames[..3].iter().all(|f| f["status"] == "processing"));
        let finished = &frames[3];
        assert_eq!(finished["status"], "finished");
        assert_eq!(finished["finish_type"], "qa");
        assert_eq!(finished["has_answer"], true);
        assert_eq!(
            finished["process_data"]["chunks"][0],
            "fake knowledge chunk"
        );
        assert_eq!(fake.request_count(Route::KnowledgeAsk), 1);

        fake.set_knowledge_frames(1, Duration::ZERO);
        assert_eq!(payloads(&ask(&fake).await).len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_bad_question_or_token_is_refused() {
    bounded(async {
        let fake = fake().await;
        for body in [
            json!({"message": {"content": ""}}),
            json!({"message": {"content": "x".repeat(65_536)}}),
            json!({"message": {}}),
        ] {
            call(&fake, Method::POST, ASK, Some(body))
                .await
                .assert_param_error("message.content");
        }
        call(
            &fake,
            Method::POST,
            ASK,
            Some(json!({"message": {"content": "q"}, "data_asset_ids": [""]})),
        )
        .await
        .assert_param_error("data_asset_ids");
        let no_token = wire::request(
            &fake,
            Method::POST,
            ASK,
            None,
            r#"{"message":{"content":"q"}}"#,
        );
        wire::send(&wire::http1_client(), no_token)
            .await
            .assert_error(400, 99991661);
    })
    .await;
}

#[tokio::test]
async fn a_stalled_stream_stops_writing_and_keeps_the_connection_open() {
    bounded(async {
        let fake = fake().await;
        fake.push_fault(
            Route::KnowledgeAsk,
            Fault::Stream(StreamFault::Stall),
            Times::Once,
        );
        let request = wire::request(
            &fake,
            Method::POST,
            ASK,
            Some("t-test"),
            r#"{"message":{"content":"q"}}"#,
        );
        let response = wire::http1_client().request(request).await.unwrap();
        let mut body = response.into_body();
        let frames = wire::frames_until_stalled(&mut body).await;
        assert_eq!(
            frames.len(),
            2,
            "half of the three processing frames, rounded up"
        );
        assert!(!http_body::Body::is_end_stream(&body));
    })
    .await;
}

#[tokio::test]
async fn stream_faults_cut_error_oversize_and_json_error() {
    bounded(async {
        let fake = fake().await;
        let push = |fault| fake.push_fault(Route::KnowledgeAsk, Fault::Stream(fault), Times::Once);

        push(StreamFault::Cut);
        let frames = payloads(&ask(&fake).await);
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|f| f["status"] == "processing"));

        push(StreamFault::ErrorFrame {
            code: 2700033,
            msg: "failed".into(),
        });
        let frames = payloads(&ask(&fake).await);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], json!({"code": 2700033, "msg": "failed"}));

        push(StreamFault::OversizedFrame(100_000));
        let reply = ask(&fake).await;
        let longest = reply.body.split(|b| *b == b'\n').map(<[u8]>::len).max();
        assert!(longest.unwrap() >= 100_000);

        push(StreamFault::JsonError {
            code: 2700034,
            msg: "disabled".into(),
        });
        let reply = ask(&fake).await;
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        reply.assert_error(200, 2700034);

        // On another route a stream fault changes nothing.
        fake.push_fault(Route::Any, Fault::Stream(StreamFault::Cut), Times::Once);
        wire::fetch_token(&fake, "cli_none", "x")
            .await
            .assert_error(400, 10003);
        assert_eq!(fake.request_count(Route::KnowledgeAsk), 4);
    })
    .await;
}

#[tokio::test]
async fn format_variants_bom_crlf_comments_unknown_fields_wrapped() {
    bounded(async {
        let fake = fake().await;
        let push = |fault| fake.push_fault(Route::KnowledgeAsk, Fault::Stream(fault), Times::Once);

        push(StreamFault::Bom);
        assert!(ask(&fake).await.body.starts_with(b"\xEF\xBB\xBFdata: "));

        push(StreamFault::Crlf);
        let body = ask(&fake).await.body;
        assert!(body.windows(4).any(|w| w == b"\r\n\r\n"));
        assert!(!body.windows(2).any(|w| w == b"\n\n"));

        push(StreamFault::Comments);
        assert!(
            ask(&fake)
                .await
                .body
                .starts_with(b": keep-alive\n:\ndata: ")
        );

        push(StreamFault::UnknownFields);
        let text = String::from_utf8(ask(&fake).await.body.to_vec()).unwrap();
        assert!(
            text.starts_with("event: answer\nid: 0\nretry: 3000\nx-unknown: y\ndata: "),
            "{text}"
        );
        assert!(text.contains("a_field_from_the_future"));

        push(StreamFault::Wrapped);
        let frames = payloads(&ask(&fake).await);
        assert_eq!(frames.len(), 4);
        assert!(
            frames
                .iter()
                .all(|f| f["code"] == 0 && f["data"]["status"].is_string())
        );
        assert_eq!(frames[3]["data"]["status"], "finished");
    })
    .await;
}
