//! An instrumented microservice that uses the client: an axum service whose
//! endpoint cancels a run through one shared `Client`, behind its own tower stack
//! (load shedding over a concurrency limit), with tower-http tracing on the inbound
//! side and every span exported through `tracing-opentelemetry` (here to an
//! in-memory exporter, printed at the end: nothing needs the network).
//!
//! ```text
//! cargo run --example microservice --features testing,metrics
//! ```
//!
//! The trace it prints: the inbound request span is the parent of the client's
//! `aily.run.cancel` span, which is the parent of one span per HTTP attempt.
//!
//! `GET /metrics` is the Prometheus scrape endpoint: [`metrics_setup`] installs
//! `metrics-exporter-prometheus` as the process's recorder, so the client's
//! instruments (the `metrics` module docs) appear there in Prometheus' names —
//! `http_client_request_duration_seconds`, `aily_client_operation_duration_seconds`,
//! `aily_client_retries_total`, … (dots become underscores; units and `_total` per
//! Prometheus' naming). `tests/microservice/metrics.rs` scrapes it after some calls.
//!
//! `POST /ask` (`{"app_id": …, "text": …, "session_id"?: …}`) asks the Aily app and
//! forwards the answer as it is written, as server-sent events (`started`, `delta`,
//! `done`, `error`) from [`Client::ask_stream`](aily_client::Client::ask_stream). An
//! HTTP client that disconnects drops the response body, hence the ask's stream,
//! hence its run handle: the client cancels the Aily run.
//!
//! [`error_response`] is the mapping from the client's errors to HTTP a service
//! should copy (the same table is in the `error` module docs; `tests/microservice/` tests each
//! row but the last):
//!
//! | error | status | what else |
//! | --- | --- | --- |
//! | `InvalidInput` (an ID the client refuses; nothing was sent) | 400 | |
//! | `RateLimited` | 429 | `Retry-After`: `retry_after()` in whole seconds, rounded up (when Feishu said) |
//! | `Timeout` (attempt, overall) | 504 | |
//! | `Overloaded` (this service's `LoadShed` shed the call; nothing was sent) | 503 | |
//! | Feishu answered with an error: `Api`, `Auth`, `Http`, `Decode`, `BodyTooLarge`, `RunEnded` | 502 | the log id in `X-Feishu-Log-Id` and the body |
//! | Feishu could not be reached: `Connect`, `Transport` | 502 | |
//! | anything else (`Config`, `Other`) | 500 | |
//!
//! Every error body is `{"error": <kind>, "code": <Feishu code or null>, "log_id": <or null>}`.
#![allow(dead_code)] // tests/microservice/ includes this file as a module

use std::net::SocketAddr;
use std::time::Duration;

use aily_client::ask::AskEvent;
use aily_client::testing::FakeAily;
use aily_client::{BoxError, CancelRequest, CancelService, Client, Credentials, Error, ErrorKind};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::limit::ConcurrencyLimit;
use tower::load_shed::LoadShed;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Cancels in flight at once; a request beyond that is shed at once with 503.
pub const MAX_CONCURRENT_CANCELS: usize = 64;

/// The header that carries Feishu's log id on a 502.
pub const LOG_ID_HEADER: &str = "x-feishu-log-id";

/// The service's own stack over the client's cancel service: shed load (503) rather
/// than queue once `max_concurrent` cancels are in flight.
pub type CancelStack = LoadShed<ConcurrencyLimit<CancelService>>;

/// What the handlers share: the cancel stack and the client (for `/ask`).
#[derive(Clone)]
pub struct AppState {
    cancels: CancelStack,
    client: Client,
}

/// The service: `POST /runs/{session_id}/{run_id}/cancel` cancels the run and
/// answers the run as JSON; errors map as [`error_response`] says. `POST /ask`
/// streams an answer.
pub fn app(client: Client) -> Router {
    app_with_limit(client, MAX_CONCURRENT_CANCELS)
}

/// [`app`] with at most `max_concurrent` cancels in flight.
pub fn app_with_limit(client: Client, max_concurrent: usize) -> Router {
    let cancels: CancelStack = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(max_concurrent)
        .service(client.cancel_service());
    Router::new()
        .route("/runs/{session_id}/{run_id}/cancel", post(cancel))
        .route("/ask", post(ask))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(AppState { cancels, client })
}

/// The body of `POST /ask`.
#[derive(serde::Deserialize)]
pub struct AskBody {
    app_id: String,
    text: String,
    #[serde(default)]
    session_id: Option<String>,
}

/// `POST /ask`: the answer as server-sent events. Dropped by a disconnecting
/// client, the stream takes the ask with it, and the client cancels the run.
async fn ask(State(state): State<AppState>, Json(body): Json<AskBody>) -> Response {
    let mut ask = state.client.ask(body.app_id).text(body.text);
    if let Some(session_id) = body.session_id {
        ask = ask.session(session_id);
    }
    let events = ask.stream().map(|event| {
        let (name, data) = match event {
            Ok(AskEvent::Started { session_id, run_id }) => (
                "started",
                serde_json::json!({"session_id": session_id, "run_id": run_id}),
            ),
            Ok(AskEvent::Delta { message_id, delta }) => (
                "delta",
                serde_json::json!({"message_id": message_id, "delta": delta}),
            ),
            Ok(AskEvent::Replaced { message_id, content }) => (
                "replaced",
                serde_json::json!({"message_id": message_id, "content": content}),
            ),
            Ok(AskEvent::Done(answer)) => (
                "done",
                serde_json::json!({
                    "session_id": answer.session_id,
                    "run_id": answer.run.id,
                    "status": answer.run.status.as_str(),
                    "text": answer.text(),
                }),
            ),
            Ok(_) => ("other", serde_json::Value::Null),
            Err(err) => (
                "error",
                serde_json::json!({"error": err.kind().as_str(), "code": err.code(), "log_id": err.log_id()}),
            ),
        };
        Ok::<_, std::convert::Infallible>(Event::default().event(name).data(data.to_string()))
    });
    Sse::new(events).into_response()
}

async fn cancel(
    State(AppState { cancels, .. }): State<AppState>,
    Path((session_id, run_id)): Path<(String, String)>,
) -> Response {
    // An invalid ID is refused here, before the stack: nothing is sent.
    let request = match CancelRequest::new(session_id, run_id) {
        Ok(request) => request,
        Err(err) => return error_response(err.into()),
    };
    match cancels.oneshot(request).await {
        Ok(reply) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&reply.run).unwrap_or_default(),
        )
            .into_response(),
        Err(err) => error_response(err),
    }
}

/// `wait` in whole seconds, rounded up: the value of a `Retry-After` header.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The HTTP response for an error of the cancel stack (see the module docs' table).
pub fn error_response(err: BoxError) -> Response {
    // The crate's Error as it is, or what the foreign error was: tower's load-shed
    // `Overloaded` becomes `ErrorKind::Overloaded`.
    let err = Error::from_box(err);
    let status = match err.kind() {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Api
        | ErrorKind::Auth
        | ErrorKind::Http
        | ErrorKind::Decode
        | ErrorKind::BodyTooLarge
        | ErrorKind::RunEnded
        | ErrorKind::Connect
        | ErrorKind::Transport => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = serde_json::json!({
        "error": err.kind().as_str(),
        "code": err.code(),
        "log_id": err.log_id(),
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if status == StatusCode::TOO_MANY_REQUESTS
        && let Some(wait) = err.retry_after()
    {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(wait)),
        );
    }
    if status == StatusCode::BAD_GATEWAY
        && let Some(value) = err.log_id().and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert(LOG_ID_HEADER, value);
    }
    response
}

/// Installs a Prometheus recorder as the process's metrics recorder (histograms with
/// OpenTelemetry's duration buckets, Prometheus' recommended names) and describes the
/// client's instruments; the handle renders the scrape. Once per process.
pub fn metrics_setup() -> PrometheusHandle {
    let handle = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets_for_metric(
            Matcher::Suffix("duration".to_owned()),
            aily_client::metrics::DURATION_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(aily_client::metrics::RATE_LIMIT_WAIT.to_owned()),
                aily_client::metrics::DURATION_BUCKETS,
            )
        })
        .and_then(|b| b.install_recorder())
        .expect("the one metrics recorder of the process");
    aily_client::metrics::describe();
    handle
}

/// `router` plus `GET /metrics`: the Prometheus text exposition of `handle`.
pub fn with_metrics(router: Router, handle: PrometheusHandle) -> Router {
    router.route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    )
}

/// The subscriber: an OpenTelemetry layer exporting to memory, everything at INFO
/// and the client's attempt spans at DEBUG; with its provider and exporter.
pub fn tracing_setup() -> (
    impl tracing::Subscriber + Send + Sync + 'static,
    SdkTracerProvider,
    InMemorySpanExporter,
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("aily-microservice");
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("info,aily_client=debug"))
        .with(tracing_opentelemetry::layer().with_tracer(tracer));
    (subscriber, provider, exporter)
}

/// Installs [`tracing_setup`]'s subscriber as the global one.
pub fn init_tracing() -> (SdkTracerProvider, InMemorySpanExporter) {
    let (subscriber, provider, exporter) = tracing_setup();
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    (provider, exporter)
}

/// Serves `app` on 127.0.0.1 (an ephemeral port), in the background.
pub async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (provider, exporter) = init_tracing();
    let metrics = metrics_setup();

    // The fake Feishu the service talks to.
    let fake = FakeAily::start().await?;
    fake.add_app("cli_microservice", "microservice-secret");
    fake.add_run("session_1", "run_1");
    let client = Client::builder()
        .credentials(Credentials::app("cli_microservice", "microservice-secret"))
        .base_url(fake.base_url())
        .build()?;

    let addr = serve(with_metrics(app(client), metrics)).await?;
    let http = reqwest::Client::new();
    let reply = http
        .post(format!("http://{addr}/runs/session_1/run_1/cancel"))
        .send()
        .await?;
    println!("POST /runs/session_1/run_1/cancel -> {}", reply.status());
    println!("{}", reply.text().await?);

    let scrape = http.get(format!("http://{addr}/metrics")).send().await?;
    println!(
        "\nGET /metrics -> {} (the client's series):",
        scrape.status()
    );
    for line in scrape.text().await?.lines() {
        if !line.is_empty() && !line.starts_with('#') && !line.contains("_bucket{") {
            println!("  {line}");
        }
    }

    provider.force_flush()?;
    println!("\nexported spans (span id, parent id, name):");
    for span in exporter.get_finished_spans()? {
        println!(
            "  {} {} {}",
            span.span_context.span_id(),
            span.parent_span_id,
            span.name
        );
    }
    Ok(())
}
