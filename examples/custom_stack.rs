//! Rebuild the default stack from its public layers in your own `ServiceBuilder`,
//! and add layers of your own at the HTTP tier. The typed tier here is the default
//! stack's, layer for layer: the example checks it against
//! `Client::typed_layers`, read off the client's own stack (and CI runs it).
//!
//! ```text
//! cargo run --example custom_stack --features testing
//! ```

use std::time::Duration;

use std::sync::Arc;

use aily_client::api_call::{ApiCallLayer, typed_layer_names};
use aily_client::auth::AuthLayer;
use aily_client::in_flight::InFlightLimitLayer;
use aily_client::observe::{AttemptLayer, OperationLayer};
use aily_client::rate_limit::{LocalRateLimitStore, RateLimitLayer};
use aily_client::retry::{RetryConfig, RetryPolicy, retry_layer};
use aily_client::testing::FakeAily;
use aily_client::timeout::{AttemptTimeoutLayer, DeadlineLayer};
use aily_client::transport::{
    BaseUriLayer, BaseUrl, CollectBodyLayer, RequestBody, SharedClient, TransportConfig,
    hyper_client,
};
use aily_client::{AccessToken, CancelRequest, Client, Credentials, TokenKind};
use http::HeaderValue;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fake = FakeAily::start().await?;
    fake.add_tenant_token("t-custom");
    fake.add_run("s1", "r1");

    let base = BaseUrl::parse(&fake.base_url())?;
    let http = SharedClient::new(hyper_client(&TransportConfig::default())?);
    let svc = ServiceBuilder::new()
        // typed tier: every layer answers Reply<CancelResponse> (the data, its status
        // and log id) or one Error; layers of your own go anywhere in it.
        // One span and one event per call: spans, metrics (feature `metrics`), your
        // own observer (`.observer(..)`)
        .layer(OperationLayer::new())
        // the deadline for the layers below; the attempt timeout keeps it
        .layer(DeadlineLayer::new(Duration::from_secs(30)))
        .layer(retry_layer(RetryPolicy::new(RetryConfig::default())?))
        // penalties (a server's reset) and, with a quota, a slot per attempt
        .layer(RateLimitLayer::new(
            Arc::new(LocalRateLimitStore::new()),
            "my-app",
        ))
        .layer(InFlightLimitLayer::new(64))
        // one span and one event per attempt
        .layer(AttemptLayer::new().server(&base))
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(10)))
        .layer(ApiCallLayer::new())
        // HTTP tier: your own layers see http::Request / http::Response<Bytes>
        .map_request(|mut req: http::Request<RequestBody>| {
            req.headers_mut()
                .insert("x-my-team", HeaderValue::from_static("payments"));
            req
        })
        .layer(AuthLayer::fixed(AccessToken::new(
            TokenKind::Tenant,
            "t-custom",
        )?))
        .layer(BaseUriLayer::new(base))
        .layer(CollectBodyLayer::new(64 * 1024))
        .service(http);

    // The same typed tier as the client's default stack, layer for layer.
    let client = Client::builder()
        .credentials(Credentials::tenant_token("t-custom"))
        .build()?;
    assert_eq!(
        typed_layer_names(&svc),
        client.typed_layers::<CancelRequest>()
    );

    let reply = svc.oneshot(CancelRequest::new("s1", "r1")?).await?;
    println!(
        "run {} is {} (log id {:?})",
        reply.run.id,
        reply.run.status,
        reply.log_id()
    );
    let seen = &fake.requests()[0];
    println!(
        "the server saw x-my-team: {:?}",
        seen.headers.get("x-my-team")
    );
    Ok(())
}
