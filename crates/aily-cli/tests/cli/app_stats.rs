//! The built `aily` binary's `aily app-stats` against FakeAily over real TCP: JSON
//! lines, `--all`, exit codes.

use std::time::Duration;

use crate::runner::{
    aily_at, aily_at_within, aily_json, assert_api_failure, assert_refused, assert_timed_out, text,
};
use crate::support::fake;
use aily_client::testing::{Fault, Route, Times};
use serde_json::{Value, json};

/// 2023-10-31 and 2023-11-30 (the Java sample's window), in Unix seconds.
const START: u64 = 1_698_729_600;
const END: u64 = 1_701_321_599;

fn stat(i: u64) -> Value {
    json!({
        "id": format!("app_{i}"),
        "name": format!("Helper {i}"),
        "avg_daily_active_user_num": 1.5,
        "avg_daily_run_num": 2.25,
        "avg_daily_credit_usage": 0.5,
        "total_credit_usage": 15.0,
        "owner": {
            "id": "ou_1",
            "name": "Ann",
            "tenant_id": "tenant_1",
            "lark_user_id": "lu_1",
            "open_user_id": null,
            "open_id": "ou_open_1",
        },
        "app_created_at": "2023-11-01 10:00:00",
    })
}

#[tokio::test]
async fn app_stats_prints_a_line_per_app_and_every_page_with_all() {
    let fake = fake().await;
    for i in 0..5 {
        fake.add_app_stat(START + i, stat(i));
    }
    fake.add_app_stat(END + 1, stat(99));
    let (start, end) = (START.to_string(), END.to_string());
    let window = ["app-stats", "--start", &start, "--end", &end];

    let all = aily_json(
        &fake,
        &[&window[..], &["--page-size", "2", "--all"]].concat(),
    )
    .await;
    assert_eq!(all, (0..5).map(stat).collect::<Vec<_>>());
    assert_eq!(fake.request_count(Route::AppStats), 3);
    let sent = fake.requests().last().unwrap().path.clone();
    for part in [
        format!("start_at={START}"),
        format!("end_at={END}"),
        "filter_type=all".into(),
    ] {
        assert!(sent.contains(&part), "{part} in {sent}");
    }

    // Without --all: the first page, and a note on stderr that more follow.
    let out = aily_at(&fake, &[&window[..], &["--page-size", "2"]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(text(&out.stderr).contains("--all"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn app_stats_invalid_input_exits_2_and_sends_nothing() {
    let fake = fake().await;
    assert_refused(
        &fake,
        &[
            (&["app-stats", "--start", "10", "--end", "5"], "start_at"),
            (
                &["app-stats", "--start", "yesterday", "--end", "5"],
                "--start",
            ),
            (&["app-stats", "--start", "-1", "--end", "5"], "--start"),
            (&["app-stats", "--start", "1"], "--end"),
            (
                &[
                    "app-stats",
                    "--start",
                    "1",
                    "--end",
                    "2",
                    "--page-size",
                    "0",
                ],
                "--page-size",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn app_stats_server_error_exits_1_and_timeout_bounds_it() {
    let fake = fake().await;
    fake.push_fault(
        Route::AppStats,
        Fault::api_error(400, 2700001, "param is invalid"),
        Times::Once,
    );
    let args = ["app-stats", "--start", "1", "--end", "2", "--all"];
    let out = aily_at(&fake, &args).await;
    assert_api_failure(&fake, &out, 2700001);
    assert!(out.stdout.is_empty());

    fake.push_fault(
        Route::Any,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Always,
    );
    let out = aily_at_within(
        Duration::from_secs(20),
        &fake,
        &[&args[..], &["--timeout", "0.5"]].concat(),
    )
    .await;
    assert_timed_out(&out);
}
