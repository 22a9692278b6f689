//! The agents routes and app stats with a bare hyper client over real TCP: each
//! route served, token-checked and faulted; chats progressing over polls; the chat's
//! event stream and its faults; the multipart upload parsed (type, size, required
//! parts); the 3P error codes.

use std::time::Duration;

use crate::wire::*;
use aily_fake::{FakeAily, Fault, Route, StreamFault, Times};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde_json::{Value, json};

const A: &str = "/open-apis/aily/v1/agents/agent_1";

/// A fake with agent `agent_1`, its artifact `artifact_1` and one app stat.
async fn fixture() -> FakeAily {
    let fake = fake_with_token().await;
    fake.add_agent("agent_1");
    fake.add_agent_artifact("agent_1", "artifact_1", "r.pdf", "https://example.com/r");
    fake.add_app_stat(100, json!({"id": "app_1"}));
    fake
}

/// The JSON routes with a request that succeeds against [`fixture`].
fn routes() -> Vec<(Route, Method, String, Option<Value>)> {
    vec![
        (
            Route::AppStats,
            Method::GET,
            "/open-apis/aily/v1/app_stats?start_at=1&end_at=200&filter_type=all".to_owned(),
            None,
        ),
        (
            Route::CreateAgentChat,
            Method::POST,
            format!("{A}/chats"),
            Some(json!({"user_message": {"content": [{"type": "text", "text": "hi"}]}})),
        ),
        (
            Route::CreateAgentSession,
            Method::POST,
            format!("{A}/sessions"),
            Some(json!({})),
        ),
        (
            Route::ListAgentSessions,
            Method::GET,
            format!("{A}/sessions"),
            None,
        ),
        (
            Route::GetAgentArtifact,
            Method::GET,
            format!("{A}/artifacts/artifact_1"),
            None,
        ),
    ]
}

#[tokio::test]
async fn each_route_is_served_token_checked_and_faulted() {
    bounded(async {
        let fake = fixture().await;
        for (route, method, path, body) in routes() {
            call(&fake, method.clone(), &path, body.clone())
                .await
                .data();
            let text = body.clone().map(|b| b.to_string()).unwrap_or_default();
            let req = request(&fake, method.clone(), &path, Some("t-unknown"), &text);
            send(&http1_client(), req).await.assert_error(400, 99991663);
            fake.push_fault(route, Fault::Status(503), Times::Once);
            call(&fake, method.clone(), &path, body)
                .await
                .assert_error(503, 503);
            assert_eq!(fake.request_count(route), 3, "{route:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_chat_goes_queued_running_completed_over_polls() {
    bounded(async {
        let fake = fixture().await;
        fake.set_agent_chat_plan(1, 1, "Completed");
        let body = json!({"user_message": {"content": [{"type": "text", "text": "Why?"}]}});
        let created = call(&fake, Method::POST, &format!("{A}/chats"), Some(body))
            .await
            .data();
        let id = created["agent_chat_id"].as_str().unwrap().to_owned();
        assert!(
            created["session_id"]
                .as_str()
                .unwrap()
                .starts_with("conversation_")
        );
        let path = format!("{A}/chats/{id}");
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(call(&fake, Method::GET, &path, None).await.data());
        }
        let names: Vec<&str> = statuses
            .iter()
            .map(|c| c["status"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Queued", "Running", "Completed"]);
        assert_eq!(statuses[2]["finish_reason"], "stop");
        assert_eq!(statuses[2]["content"][1]["text"], " to: Why?");
        let err = call(&fake, Method::GET, &format!("{A}/chats/nope"), None).await;
        err.assert_error(404, 10002);
        // The session shows the turn; list pages with next_page_token.
        let session = created["session_id"].as_str().unwrap();
        let got = call(&fake, Method::GET, &format!("{A}/sessions/{session}"), None)
            .await
            .data();
        assert_eq!(
            got["turns"]["agent_chat_id"],
            id.as_str(),
            "one turn: an object"
        );
        assert!(got["created_at"].is_string());
        call(
            &fake,
            Method::POST,
            &format!("{A}/sessions"),
            Some(json!({"name": "b"})),
        )
        .await
        .data();
        let page = call(
            &fake,
            Method::GET,
            &format!("{A}/sessions?page_size=1"),
            None,
        )
        .await
        .data();
        assert_eq!(page["has_more"], true);
        assert_eq!(page["next_page_token"], "pt_1");
        assert!(page.get("page_token").is_none());
        assert!(page["sessions"][0]["created_at"].is_u64());
        call(
            &fake,
            Method::DELETE,
            &format!("{A}/sessions/{session}"),
            None,
        )
        .await
        .data();
        call(&fake, Method::GET, &path, None)
            .await
            .assert_error(404, 10002);
    })
    .await;
}

#[tokio::test]
async fn the_agents_codes() {
    bounded(async {
        let fake = fixture().await;
        let chat =
            |text: String| json!({"user_message": {"content": [{"type": "text", "text": text}]}});
        let chats = format!("{A}/chats");
        call(&fake, Method::POST, &chats, Some(chat("x".repeat(10_001))))
            .await
            .assert_error(400, 10001);
        call(
            &fake,
            Method::POST,
            &chats,
            Some(json!({"user_message": {}})),
        )
        .await
        .assert_error(400, 10001);
        let stream =
            json!({"user_message": {"content": [{"type": "text", "text": "a"}]}, "stream": "yes"});
        call(&fake, Method::POST, &chats, Some(stream))
            .await
            .assert_error(400, 10001);
        let unknown = "/open-apis/aily/v1/agents/agent_x/chats";
        call(&fake, Method::POST, unknown, Some(chat("a".into())))
            .await
            .assert_error(403, 10007);
        let visibility = format!("{A}/agent_visibility/check");
        let body = Some(json!({"channel_type": "web_sdk"}));
        call(&fake, Method::POST, &visibility, body.clone())
            .await
            .assert_error(403, 10007);
        fake.add_user_token("u-1");
        let req = request(
            &fake,
            Method::POST,
            &visibility,
            Some("u-1"),
            r#"{"channel_type":"web_sdk"}"#,
        );
        assert_eq!(send(&http1_client(), req).await.data()["visibility"], true);
        let req = request(
            &fake,
            Method::POST,
            &visibility,
            Some("u-1"),
            r#"{"channel_type":"app"}"#,
        );
        send(&http1_client(), req).await.assert_error(400, 10001);
        fake.set_agent_openapi_enabled("agent_1", false);
        call(&fake, Method::POST, &chats, Some(chat("a".into())))
            .await
            .assert_error(403, 10006);
        fake.set_agents_enabled(false);
        call(&fake, Method::POST, &chats, Some(chat("a".into())))
            .await
            .assert_error(403, 10008);
        // App stats: a window backwards is a parameter error.
        let stats = "/open-apis/aily/v1/app_stats?start_at=5&end_at=1&filter_type=all";
        call(&fake, Method::GET, stats, None)
            .await
            .assert_param_error("end_at");
        let stats = "/open-apis/aily/v1/app_stats?start_at=1&end_at=99&filter_type=all";
        let page = call(&fake, Method::GET, stats, None).await.data();
        assert_eq!(page["items"], json!([]), "the stat at 100 is outside");
    })
    .await;
}

fn upload(fake: &FakeAily, content_type: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("{}{A}/attachments", fake.base_url()))
        .header("authorization", "Bearer t-test")
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, value) in parts {
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        body.push(b'"');
        if let Some(file) = file {
            body.extend_from_slice(
                format!("; filename=\"{file}\"\r\nContent-Type: image/png").as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

#[tokio::test]
async fn an_upload_is_a_real_multipart_form() {
    bounded(async {
        let fake = fixture().await;
        let ct = "multipart/form-data; boundary=XyZ";
        let png: &[u8] = b"\x89PNG\r\n--Xy-almost\r\n\x00\xff";
        let ok = send(
            &http1_client(),
            upload(
                &fake,
                ct,
                form(&[("type", None, b"image"), ("file", Some("a.png"), png)]),
            ),
        )
        .await;
        let id = ok.data()["agent_attachment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(fake.agent_attachment(&id).as_deref(), Some(png));
        let doc = form(&[
            ("type", None, b"bitable"),
            ("doc_url", None, b"https://x/b"),
        ]);
        let ok = send(&http1_client(), upload(&fake, ct, doc)).await;
        assert!(ok.data()["agent_attachment_id"].is_string());
        let big = vec![7u8; 5 * 1024 * 1024 + 1];
        let refused = [
            (
                ct,
                form(&[("type", None, b"image"), ("file", Some("a.png"), &big)]),
            ),
            (
                ct,
                form(&[("type", None, b"video"), ("file", Some("a.mp4"), b"x")]),
            ),
            (ct, form(&[("type", None, b"file")])),
            (ct, form(&[("type", None, b"feishu_doc")])),
            (ct, form(&[("file", Some("a.png"), b"x")])),
            (ct, b"--XyZ\r\nno end".to_vec()),
            ("application/json", form(&[("type", None, b"image")])),
        ];
        for (content_type, body) in refused {
            send(&http1_client(), upload(&fake, content_type, body))
                .await
                .assert_error(400, 10001);
        }
        // The same image as a file is under the file limit.
        let ok = send(
            &http1_client(),
            upload(
                &fake,
                ct,
                form(&[("type", None, b"file"), ("file", Some("a.bin"), &big)]),
            ),
        )
        .await;
        ok.data();
        fake.push_fault(
            Route::UploadAgentAttachment,
            Fault::ResetAfterHandling,
            Times::Once,
        );
        let before = fake.request_count(Route::UploadAgentAttachment);
        let req = upload(
            &fake,
            ct,
            form(&[("type", None, b"image"), ("file", Some("a.png"), b"x")]),
        );
        assert!(
            http1_client().request(req).await.is_err(),
            "the reply is lost"
        );
        assert_eq!(fake.request_count(Route::UploadAgentAttachment), before + 1);
    })
    .await;
}

/// A chat create asking for the event stream.
fn streamed_chat() -> Value {
    json!({"user_message": {"content": [{"type": "text", "text": "Why?"}]}, "stream": true})
}

/// Creates a chat with the event stream and reads the whole reply.
async fn stream_chat(fake: &FakeAily) -> Reply {
    call(
        fake,
        Method::POST,
        &format!("{A}/chats"),
        Some(streamed_chat()),
    )
    .await
}

/// The `(event, data)` of each frame of a complete event-stream body (LF line ends,
/// one `event:` and one `data:` line a frame).
fn events(reply: &Reply) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(&reply.body).expect("UTF-8");
    text.split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let (event, data) = frame.split_once('\n').expect("two lines a frame");
            let event = event.strip_prefix("event: ").expect("an event line");
            let data = data.strip_prefix("data: ").expect("a data line");
            (event.to_owned(), serde_json::from_str(data).expect("JSON"))
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_chat_is_start_deltas_done_then_completed_for_chat_get() {
    bounded(async {
        let fake = fixture().await;
        fake.set_agent_answer(&["Hello", ", wor", "ld"]);
        fake.set_agent_stream_frames(4, Duration::from_millis(5));
        let reply = stream_chat(&fake).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        assert!(reply.header("content-length").is_none(), "streamed");
        let frames = events(&reply);
        let names: Vec<&str> = frames.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "start",
                "message_delta",
                "message_delta",
                "message_delta",
                "message_delta",
                "done"
            ]
        );
        let id = frames[0].1["agent_chat_id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("agent_chat_"));
        let session = frames[0].1["session_id"].as_str().unwrap().to_owned();
        assert_eq!(fake.agent_session_ids("agent_1"), [session]);
        let mut text = String::new();
        for (_, delta) in &frames[1..5] {
            assert_eq!(delta["agent_chat_id"], id.as_str());
            assert_eq!(delta["delta"]["type"], "content");
            text.push_str(delta["delta"]["text"].as_str().unwrap());
        }
        assert_eq!(text, "Hello, world");
        assert_eq!(
            frames[5].1,
            json!({"agent_chat_id": id, "status": "Completed"})
        );
        // Streamed to its `done`: final at once.
        let chat = call(&fake, Method::GET, &format!("{A}/chats/{id}"), None)
            .await
            .data();
        assert_eq!(chat["status"], "Completed");
        let texts: Vec<&str> = chat["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts.concat(), text);

        // A chat that fails: no delta, `done` says so.
        fake.set_agent_chat_plan(0, 0, "Failed");
        let reply = stream_chat(&fake).await;
        let frames = events(&reply);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].1["status"], "Failed");
    })
    .await;
}

#[tokio::test]
async fn the_stream_faults_of_the_agent_chat() {
    bounded(async {
        let fake = fixture().await;
        let chats = format!("{A}/chats");
        let push =
            |fault| fake.push_fault(Route::CreateAgentChat, Fault::Stream(fault), Times::Once);
        let status_of = |frames: &[(String, Value)]| {
            let id = frames[0].1["agent_chat_id"].as_str().unwrap().to_owned();
            let path = format!("{A}/chats/{id}");
            let fake = &fake;
            async move { call(fake, Method::GET, &path, None).await.data()["status"].clone() }
        };

        // Cut after `start` and the first delta: the chat goes on over polls.
        push(StreamFault::Cut);
        let frames = events(&stream_chat(&fake).await);
        let names: Vec<&str> = frames.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(names, ["start", "message_delta"]);
        assert_eq!(status_of(&frames).await, "Queued");

        // An error event after `start`.
        push(StreamFault::ErrorFrame {
            code: 50001,
            msg: "internal".into(),
        });
        let frames = events(&stream_chat(&fake).await);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[1],
            (
                "error".to_owned(),
                json!({"code": 50001, "msg": "internal"})
            )
        );
        assert_eq!(status_of(&frames).await, "Queued");

        // A JSON error with HTTP 200: nothing created.
        let sessions = fake.agent_session_ids("agent_1").len();
        push(StreamFault::JsonError {
            code: 10001,
            msg: "validation failed".into(),
        });
        stream_chat(&fake).await.assert_error(200, 10001);
        assert_eq!(fake.agent_session_ids("agent_1").len(), sessions);

        // Unknown events and fields around every frame.
        push(StreamFault::UnknownFields);
        let text = String::from_utf8(stream_chat(&fake).await.body.to_vec()).unwrap();
        assert!(
            text.starts_with("event: a_future_event\ndata: {\"x\":1}\n\nevent: start\nid: 0\n"),
            "{text}"
        );
        assert!(text.contains("a_field_from_the_future"));

        // A stream fault on a create without the stream changes nothing.
        push(StreamFault::Cut);
        let plain = json!({"user_message": {"content": [{"type": "text", "text": "a"}]}});
        assert!(
            call(&fake, Method::POST, &chats, Some(plain)).await.data()["agent_chat_id"]
                .is_string()
        );
        assert_eq!(fake.request_count(Route::CreateAgentChat), 5);
    })
    .await;
}

#[tokio::test]
async fn a_stalled_or_silent_agent_stream_keeps_the_connection_open() {
    bounded(async {
        let fake = fixture().await;
        for (fault, expected) in [(StreamFault::Stall, 2), (StreamFault::Silent, 0)] {
            fake.push_fault(Route::CreateAgentChat, Fault::Stream(fault), Times::Once);
            let request = request(
                &fake,
                Method::POST,
                &format!("{A}/chats"),
                Some("t-test"),
                &streamed_chat().to_string(),
            );
            let response = http1_client().request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let mut body = response.into_body();
            let frames = frames_until_stalled(&mut body).await;
            assert_eq!(
                frames.len(),
                expected,
                "`start` and the first delta, or nothing"
            );
            assert!(!http_body::Body::is_end_stream(&body));
        }
        // Both chats were made.
        assert_eq!(fake.agent_session_ids("agent_1").len(), 2);
    })
    .await;
}
