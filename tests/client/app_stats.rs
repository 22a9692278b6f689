//! App stats over real TCP to `FakeAily`: pages of the window's stats, the lenient
//! model, inputs refused with nothing sent, and the read retried after a lost reply.
#![cfg(feature = "testing")]

use aily_client::ErrorKind;
use aily_client::app_stats::{AppStat, ListAppStatsRequest};
use aily_client::testing::{Fault, Route, Times};
use futures_util::StreamExt;
use serde_json::json;

use crate::support::{self, bounded};

const TOKEN: &str = "t-app-stats";
const START: u64 = 1_698_729_600;
const END: u64 = 1_701_321_599;

#[tokio::test]
async fn app_stats_pages_the_windows_stats() {
    bounded(async {
        let fake = support::fake_for(TOKEN).await;
        let client = support::tenant_client(&fake, TOKEN, |b| b);
        for i in 0..5 {
            fake.add_app_stat(
                START + i,
                json!({"id": format!("app_{i}"), "name": "Helper", "avg_daily_run_num": 2.5,
                       "total_credit_usage": 10, "owner": {"id": 7, "name": "Ann", "open_id": "ou_1"},
                       "app_created_at": "2026-06-04 10:00:00", "from_the_future": [1]}),
            );
        }
        fake.add_app_stat(END + 1, json!({"id": "app_outside"}));
        let stats: Vec<AppStat> = client
            .app_stats_stream(ListAppStatsRequest::new(START, END).unwrap().page_size(2).unwrap())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        let ids: Vec<&str> = stats.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["app_0", "app_1", "app_2", "app_3", "app_4"]);
        assert_eq!(stats[0].avg_daily_run_num, 2.5);
        assert_eq!(stats[0].total_credit_usage, 10.0);
        assert_eq!(stats[0].owner.id.as_deref(), Some("7"));
        assert_eq!(stats[0].owner.open_id.as_deref(), Some("ou_1"));
        assert_eq!(stats[0].app_created_at, "2026-06-04 10:00:00");
        let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), 3);
        assert_eq!(
            paths[0],
            format!("/open-apis/aily/v1/app_stats?start_at={START}&end_at={END}&filter_type=all&page_size=2")
        );
        let page = client
            .list_app_stats(ListAppStatsRequest::new(END + 1, END + 1).unwrap().filter_type("workflow").unwrap())
            .await
            .unwrap();
        assert_eq!(page.page.items.len(), 1);
        assert!(fake.requests().pop().unwrap().path.contains("filter_type=workflow"));
    })
    .await;
}

#[tokio::test]
async fn app_stats_inputs_are_checked_and_reads_retried() {
    let fake = support::fake_for(TOKEN).await;
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    let err = ListAppStatsRequest::new(END, START).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("start_at"), "{err}");
    for bad in ["", "a\nb", &"x".repeat(65)] {
        let err = ListAppStatsRequest::new(START, END)
            .unwrap()
            .filter_type(bad)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    assert_eq!(fake.request_count(Route::Any), 0);
    fake.push_fault(Route::AppStats, Fault::ResetAfterHandling, Times::Once);
    let page = client
        .list_app_stats(ListAppStatsRequest::new(START, END).unwrap())
        .await
        .unwrap();
    assert!(page.page.items.is_empty());
    assert_eq!(fake.request_count(Route::AppStats), 2);
}
