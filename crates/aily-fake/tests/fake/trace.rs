//! FakeAily's spans and events hold no message content, metadata, body or
//! token. It runs alone (the other tests of the binary stand aside for it) under the
//! binary's global subscriber at TRACE level, so no other test's threads or
//! callsites can hide an event from the capture, and none adds to it.
use std::time::Duration;

use crate::wire::*;
use http::Method;
use serde_json::json;

const CONTENT: &str = "content-that-must-not-be-logged";
const METADATA: &str = "{\"note\":\"metadata-that-must-not-be-logged\"}";

#[tokio::test]
async fn no_content_reaches_spans_or_events() {
    let (_, capture) = crate::support::trace::alone();

    bounded(async {
        let fake = fake_with_token().await;
        fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
        let body = json!({"metadata": METADATA, "channel_context": METADATA});
        let session = call(&fake, Method::POST, SESSIONS, Some(body)).await.data();
        let session = session["session"]["id"].as_str().unwrap().to_owned();
        create_message(&fake, &session, "i1", CONTENT).await;
        let runs = format!("{SESSIONS}/{session}/runs");
        let run = json!({"app_id": "spring_test__c", "metadata": METADATA});
        call(&fake, Method::POST, &runs, Some(run)).await.data();
        let list = format!("{SESSIONS}/{session}/messages?with_partial_message=true");
        let page = call(&fake, Method::GET, &list, None).await.data();
        let answer = page["messages"][1]["content"].as_str().unwrap().to_owned();
        assert!(
            answer.contains(CONTENT),
            "the answer quotes the input: {answer}"
        );
        // A body the fake refuses is not logged either.
        let bad = request(
            &fake,
            Method::POST,
            &runs,
            Some("t-test"),
            &format!("[\"{CONTENT}\"]"),
        );
        send(&http1_client(), bad).await.assert_error(400, 9499);
    })
    .await;

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("fake aily request"),
        "the capture works: {text}"
    );
    for secret in [CONTENT, "metadata-that-must-not-be-logged", "t-test"] {
        assert!(!text.contains(secret), "{secret} was logged:\n{text}");
    }
}
