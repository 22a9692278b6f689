//! The other road: the same instruments into an OpenTelemetry pipeline, through the
//! `metrics` → OpenTelemetry bridge (`metrics-exporter-otel`, a `metrics` recorder
//! over an OTel `Meter`), read back from the SDK's in-memory metric exporter after a
//! retried 503 and a success, over real TCP to `FakeAily`.
#![cfg(all(feature = "metrics", feature = "testing"))]

use std::collections::BTreeMap;
use std::time::Duration;

use aily_client::testing::{Fault, Route, Times};
use metrics_exporter_otel::OpenTelemetryRecorder;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

const TOKEN: &str = "t-metrics-otel";

/// Sorted `key=value` attributes of a data point.
fn attrs<'a>(kvs: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> Vec<String> {
    let mut v: Vec<String> = kvs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_instruments_reach_an_opentelemetry_meter() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let recorder = OpenTelemetryRecorder::new(provider.meter("aily-client-test"));
    // This thread's recorder only (the runtime is current-thread).
    let _recording = metrics::set_default_local_recorder(&recorder);
    aily_client::metrics::describe();

    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_run("s", "r");
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Once);
    let retry = aily_client::retry::RetryConfig::default()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2));
    let client = crate::support::tenant_client(&fake, TOKEN, |b| b.retry(retry));
    tokio::time::timeout(Duration::from_secs(30), client.cancel_run("s", "r"))
        .await
        .unwrap()
        .unwrap();

    provider.force_flush().unwrap();
    let mut histograms: BTreeMap<(String, Vec<String>), u64> = BTreeMap::new();
    let mut sums: BTreeMap<(String, Vec<String>), u64> = BTreeMap::new();
    for resource in exporter.get_finished_metrics().unwrap() {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics() {
                let name = metric.name().to_owned();
                match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            *histograms
                                .entry((name.clone(), attrs(p.attributes())))
                                .or_default() += p.count();
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            *sums
                                .entry((name.clone(), attrs(p.attributes())))
                                .or_default() += p.value();
                        }
                    }
                    other => panic!("{name}: unexpected data {other:?}"),
                }
            }
        }
    }

    let port = fake.addr().port();
    let attempt = |status: &str, error: Option<&str>| {
        let mut a = vec![
            "http.request.method=POST".to_owned(),
            format!("http.response.status_code={status}"),
            "server.address=127.0.0.1".to_owned(),
            format!("server.port={port}"),
            "url.template=/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel"
                .to_owned(),
        ];
        a.extend(error.map(|e| format!("error.type={e}")));
        a.sort();
        ("http.client.request.duration".to_owned(), a)
    };
    let op = (
        "aily.client.operation.duration".to_owned(),
        vec!["aily.operation=aily.run.cancel".to_owned()],
    );
    assert_eq!(
        histograms,
        BTreeMap::from([
            (attempt("200", None), 1),
            (attempt("503", Some("api")), 1),
            (op, 1),
        ])
    );
    let retries = (
        "aily.client.retries".to_owned(),
        vec![
            "aily.operation=aily.run.cancel".to_owned(),
            "reason=transient".to_owned(),
        ],
    );
    let code = (
        "aily.client.feishu.errors".to_owned(),
        vec![
            "aily.operation=aily.run.cancel".to_owned(),
            "feishu.code=503".to_owned(),
        ],
    );
    assert_eq!(sums, BTreeMap::from([(retries, 1), (code, 1)]));
}
