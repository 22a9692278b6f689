//! An instrumented microservice that uses the client: an axum service whose
//! endpoint cancels a run through one shared `Client`, with tower-http tracing on
//! the inbound side and every span exported through `tracing-opentelemetry`
//! (here to an in-memory exporter, printed at the end: nothing needs the network).
//!
//! ```text
//! cargo run --example microservice --features testing
//! ```
//!
//! The trace it prints: the inbound request span is the parent of the client's
//! `aily.run.cancel` span, which is the parent of one span per HTTP attempt.
#![allow(dead_code)] // tests/microservice.rs includes this file as a module

use std::net::SocketAddr;

use aily_client::testing::FakeAily;
use aily_client::{Client, Credentials, ErrorKind};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

/// The service: `POST /runs/{session_id}/{run_id}/cancel` cancels the run and answers
/// the run as JSON; Feishu's errors map to 4xx/5xx with the log id in the body.
pub fn app(client: Client) -> Router {
    Router::new()
        .route("/runs/{session_id}/{run_id}/cancel", post(cancel))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(client)
}

async fn cancel(
    State(client): State<Client>,
    Path((session_id, run_id)): Path<(String, String)>,
) -> (StatusCode, String) {
    match client.cancel_run(session_id, run_id).await {
        Ok(reply) => (
            StatusCode::OK,
            serde_json::to_string(&reply.run).unwrap_or_default(),
        ),
        Err(err) => {
            let status = match err.kind() {
                ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
                ErrorKind::Api => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            let body = serde_json::json!({
                "error": err.kind().as_str(),
                "code": err.code(),
                "log_id": err.log_id(),
            });
            (status, body.to_string())
        }
    }
}

/// Installs the global subscriber: an OpenTelemetry layer exporting to memory,
/// everything at INFO and the client's attempt spans at DEBUG.
pub fn init_tracing() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("aily-microservice");
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("info,aily_client=debug"))
        .with(tracing_opentelemetry::layer().with_tracer(tracer));
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

    // The fake Feishu the service talks to.
    let fake = FakeAily::start().await?;
    fake.add_app("cli_microservice", "microservice-secret");
    fake.add_run("session_1", "run_1");
    let client = Client::builder()
        .credentials(Credentials::app("cli_microservice", "microservice-secret"))
        .base_url(fake.base_url())
        .build()?;

    let addr = serve(app(client)).await?;
    let reply = reqwest::Client::new()
        .post(format!("http://{addr}/runs/session_1/run_1/cancel"))
        .send()
        .await?;
    println!("POST /runs/session_1/run_1/cancel -> {}", reply.status());
    println!("{}", reply.text().await?);

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
