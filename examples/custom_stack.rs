//! Rebuild the default stack from its public layers in your own `ServiceBuilder`,
//! and add layers of your own at both tiers.
//!
//! ```text
//! cargo run --example custom_stack --features testing
//! ```

use std::time::Duration;

use aily_client::api_call::ApiCallLayer;
use aily_client::auth::AuthLayer;
use aily_client::in_flight::InFlightLimitLayer;
use aily_client::retry::{RetryConfig, RetryPolicy, retry_layer};
use aily_client::testing::FakeAily;
use aily_client::timeout::{AttemptTimeoutLayer, DeadlineLayer};
use aily_client::trace::{AttemptSpanLayer, OperationSpanLayer};
use aily_client::transport::{
    BaseUriLayer, BaseUrl, CollectBodyLayer, RequestBody, SharedClient, TransportConfig,
    hyper_client,
};
use aily_client::{AccessToken, CancelRequest, Error, TokenKind};
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
        // typed tier: your own layers see CancelRequest / Reply<CancelResponse>
        .map_err(Error::from_box)
        .concurrency_limit(16)
        .layer(OperationSpanLayer::new())
        // the deadline for the layers below; the attempt timeout keeps it
        .layer(DeadlineLayer::new(Duration::from_secs(30)))
        .layer(retry_layer(RetryPolicy::new(RetryConfig::default())?))
        .layer(InFlightLimitLayer::new(64))
        .layer(AttemptSpanLayer::new().server(&base))
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

    let reply = svc.oneshot(CancelRequest::new("s1", "r1")?).await?;
    println!("run {} is {}", reply.data.run.id, reply.data.run.status);
    let seen = &fake.requests()[0];
    println!(
        "the server saw x-my-team: {:?}",
        seen.headers.get("x-my-team")
    );
    Ok(())
}
