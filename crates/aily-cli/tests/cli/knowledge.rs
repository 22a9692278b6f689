//! The built `aily` binary's `aily knowledge ask` against FakeAily's event stream
//! over real TCP, piped: one JSON line per frame, the finished frame last; exit 1
//! on an error frame, a JSON error body or a stream that ends early.

use std::time::Duration;

use crate::runner::{
    aily_at, aily_at_within, assert_api_failure, assert_refused, assert_timed_out, clean, text,
};
use crate::support::{TOKEN, fake};
use aily_client::testing::{FakeAily, Fault, Route, StreamFault, Times};
use serde_json::{Value, json};

const APP: &str = "spring_knowledge__c";
const ANSWER: &str = "Aily is Feishu's AI app platform.";

async fn knowledge_fake() -> FakeAily {
    let fake = fake().await;
    fake.set_knowledge_answer(ANSWER);
    fake.set_knowledge_frames(4, Duration::from_millis(5));
    fake
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The question every failure test asks.
const ASK: [&str; 4] = ["knowledge", "ask", APP, "What is Aily?"];

#[tokio::test]
async fn knowledge_ask_piped_prints_a_line_per_frame_the_finished_one_last() {
    let fake = knowledge_fake().await;
    let out = aily_at(
        &fake,
        &[
            "knowledge",
            "ask",
            APP,
            "What is Aily?",
            "--data-asset",
            "asset_1",
            "--data-asset",
            "asset_2",
            "--tag",
            "spring_knowledge__c__asset_tag_1",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let frames = lines(&out);
    assert_eq!(
        frames.len(),
        5,
        "4 processing frames and the finished one: {frames:?}"
    );
    let mut before = String::new();
    for frame in &frames[..4] {
        assert_eq!(frame["status"], "processing", "{frame}");
        let content = frame["content"].as_str().unwrap();
        assert!(
            content.starts_with(&before) && ANSWER.starts_with(content),
            "{frame}"
        );
        before = content.to_owned();
    }
    let last = &frames[4];
    assert_eq!(last["status"], "finished", "{last}");
    assert_eq!(last["content"], ANSWER);
    assert_eq!(last["has_answer"], true);
    assert_eq!(last["finish_type"], "qa");
    assert!(last["process_data"].is_object(), "{last}");

    let sent: Value = serde_json::from_slice(&fake.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["message"]["content"], "What is Aily?");
    assert_eq!(sent["data_asset_ids"], json!(["asset_1", "asset_2"]));
    assert_eq!(
        sent["data_asset_tag_ids"],
        json!(["spring_knowledge__c__asset_tag_1"])
    );
    assert_eq!(fake.request_count(Route::KnowledgeAsk), 1);
}

#[tokio::test]
async fn knowledge_ask_error_frame_and_json_error_exit_1_with_code_and_log_id() {
    let fake = knowledge_fake().await;
    for (fault, code) in [
        (
            StreamFault::ErrorFrame {
                code: 2700033,
                msg: "failed to ask knowledges".into(),
            },
            2700033,
        ),
        (
            StreamFault::JsonError {
                code: 2700034,
                msg: "asking is disabled".into(),
            },
            2700034,
        ),
    ] {
        fake.push_fault(Route::KnowledgeAsk, Fault::Stream(fault), Times::Once);
        let out = aily_at(&fake, &ASK).await;
        assert_api_failure(&fake, &out, code);
        assert!(
            lines(&out).iter().all(|f| f["status"] == "processing"),
            "no finished frame: {}",
            text(&out.stdout)
        );
    }
    // An error body (HTTP 400): the same.
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::api_error(400, 2700001, "param is invalid"),
        Times::Once,
    );
    let out = aily_at(&fake, &ASK).await;
    assert_api_failure(&fake, &out, 2700001);
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn knowledge_ask_stream_that_ends_early_exits_1() {
    let fake = knowledge_fake().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::Cut),
        Times::Once,
    );
    let out = aily_at(&fake, &ASK).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("early"), "{stderr}");
    let log_id = fake.requests().last().unwrap().log_id.clone().unwrap();
    assert!(stderr.contains(&log_id), "{stderr}");
    let frames = lines(&out);
    assert!(!frames.is_empty() && frames.iter().all(|f| f["status"] == "processing"));
}

#[tokio::test]
async fn knowledge_ask_timeout_bounds_a_stalled_stream() {
    let fake = knowledge_fake().await;
    fake.push_fault(
        Route::KnowledgeAsk,
        Fault::Stream(StreamFault::Stall),
        Times::Once,
    );
    let out = aily_at_within(
        Duration::from_secs(20),
        &fake,
        &[&ASK[..], &["--timeout", "1"]].concat(),
    )
    .await;
    assert_timed_out(&out);
}

#[tokio::test]
async fn knowledge_ask_invalid_input_exits_2_and_sends_nothing() {
    let fake = knowledge_fake().await;
    assert_refused(
        &fake,
        &[
            (&["knowledge", "ask", "..", "q"], "app_id"),
            (&["knowledge", "ask", APP, ""], "content"),
            (
                &["knowledge", "ask", APP, "q", "--data-asset", ""],
                "data_asset_ids",
            ),
            (
                &["knowledge", "ask", APP, "q", "--tag", " "],
                "data_asset_tag_ids",
            ),
            (&["knowledge", "ask", APP, &"q".repeat(65_536)], "content"),
            (&["knowledge", "ask", APP], "TEXT"),
        ],
    )
    .await;
}

#[tokio::test]
async fn knowledge_ask_on_a_terminal_prints_the_answer_as_text() {
    // A terminal: util-linux `script` gives `aily` a pseudo-terminal as stdout.
    // Never skipped: without it the test fails, saying how to install it.
    assert!(
        std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok(),
        "no `script` for a pseudo-terminal: apt-get install -y bsdutils (util-linux)"
    );
    let fake = knowledge_fake().await;
    let line = format!(
        "{} knowledge ask {APP} 'What is Aily?' --base-url {}",
        env!("CARGO_BIN_EXE_aily"),
        fake.base_url()
    );
    let mut cmd = tokio::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    clean(&mut cmd);
    cmd.env("FEISHU_TENANT_ACCESS_TOKEN", TOKEN);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("aily finishes within 60 s")
        .expect("script runs");
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown} {}", text(&out.stderr));
    assert!(shown.contains(ANSWER), "{shown:?}");
    assert!(!shown.contains("\"status\""), "text, not JSON: {shown:?}");
    assert_eq!(
        shown.matches(ANSWER).count(),
        1,
        "grown, not repeated: {shown:?}"
    );
}
