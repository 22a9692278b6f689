//! The default stack, assembled in this one place: the typed tier
//! ([`Client::stack`]) over the HTTP tier ([`http_tier`] over
//! [`unauthenticated_tier`]), as drawn at [The stack](crate#the-stack).
//!
//! Streamed calls ([`Client::open_stream`]) go through the same typed tier
//! ([`Client::typed_tier`], one list of layers for both) over the streaming HTTP tier
//! ([`stream_tier`]), which sits beside [`http_tier`]: the same auth layer (token
//! source, token-rejection replay), base URI and connection pool ([`SharedClient`] is
//! one `Arc`), with [`StreamBodyLayer`] in place of [`CollectBodyLayer`]. The seam is
//! the HTTP response: an event-stream reply comes up the typed tier at its headers,
//! with an empty body and its unread body in the extensions, so every typed layer
//! (spans, deadline, retry, rate limit, in-flight limit, attempt timeout) works on
//! it unchanged, and the attempt timeout ends at the headers (the stream's open
//! timeout). See [`crate::sse`].

use bytes::Bytes;
use http::{Request, Response};
use tower::{Service, ServiceBuilder};

use crate::api::request::AilyRequest;
use crate::auth::{Auth, AuthLayer};
use crate::error::{BoxError, Error};
use crate::layers::api_call::ApiCallLayer;
use crate::layers::api_call::Reply;
use crate::layers::retry::retry_layer;
use crate::layers::timeout::{AttemptTimeoutLayer, DeadlineLayer};
use crate::transport::{
    BaseUri, BaseUriLayer, BaseUrl, CollectBody, CollectBodyLayer, RequestBody, SharedClient,
    StreamBody, StreamBodyLayer, TransportConfig, hyper_client,
};

use super::Client;

/// The HTTP tier of the default client without auth (what tenant tokens are fetched
/// through), as its concrete type.
pub(super) type Unauthenticated = BaseUri<CollectBody<SharedClient>>;

/// The HTTP tier of the default client, as its concrete type.
pub(super) type DefaultHttp = Auth<Unauthenticated>;

/// The streaming HTTP tier, as its concrete type.
pub(super) type StreamHttp = Auth<BaseUri<StreamBody<SharedClient>>>;

impl Client {
    /// The typed tier of the default stack for `R` over the client's HTTP tier, as its
    /// concrete type (drawn at [The stack](crate#the-stack)). Nothing here is boxed, so a call through it allocates only what its layers must;
    /// [`service`](Client::service) erases it for callers who need a nameable type.
    pub(crate) fn stack<R: AilyRequest>(
        &self,
    ) -> impl Service<R, Response = Reply<R::Response>, Error = Error, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static {
        self.typed_tier(self.http.clone())
    }

    /// The typed tier for `R` over `http`: the one list of typed layers, shared by
    /// the default stack and the streaming one ([`Client::open_stream`]).
    pub(crate) fn typed_tier<R: AilyRequest, H>(
        &self,
        http: H,
    ) -> impl Service<R, Response = Reply<R::Response>, Error = Error, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
    where
        H: Service<Request<RequestBody>, Response = Response<Bytes>, Error = BoxError>
            + Clone
            + Send
            + Sync
            + 'static,
        H::Future: Send + 'static,
    {
        let s = &self.settings;
        ServiceBuilder::new()
            .layer(s.operation.clone())
            .layer(DeadlineLayer::new(s.overall_timeout))
            .layer(retry_layer(s.retry.clone()))
            .layer(s.rate_limit.clone())
            .layer(s.in_flight.clone())
            .layer(s.attempt.clone())
            .layer(AttemptTimeoutLayer::new(s.attempt_timeout))
            .layer(ApiCallLayer::new())
            .service(http)
    }

    /// The layers of the typed tier of the default stack for `R`, outer to inner, by
    /// name ([`typed_layer_names`](crate::layers::api_call::typed_layer_names) of the stack
    /// itself): what the README's drawing lists, checked by a test.
    ///
    /// ```
    /// use aily_client::{CancelRequest, Client, Credentials};
    /// let client = Client::builder().credentials(Credentials::tenant_token("t")).build()?;
    /// let layers = client.typed_layers::<CancelRequest>();
    /// assert_eq!(layers.first().map(String::as_str), Some("OperationLayer"));
    /// assert_eq!(layers.last().map(String::as_str), Some("ApiCallLayer"));
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn typed_layers<R: AilyRequest>(&self) -> Vec<String> {
        crate::layers::api_call::typed_layer_names(&self.stack::<R>())
    }
}

/// The HTTP tier without auth (drawn at [The stack](crate#the-stack)): base URI, bounded body,
/// the hyper-util client. Tenant tokens are fetched through it.
pub(super) fn unauthenticated_tier(
    base_url: &BaseUrl,
    transport: &TransportConfig,
    max_body_bytes: usize,
) -> Result<Unauthenticated, Error> {
    Ok(ServiceBuilder::new()
        .layer(BaseUriLayer::new(base_url.clone()))
        .layer(CollectBodyLayer::new(max_body_bytes))
        .service(SharedClient::new(hyper_client(transport)?)))
}

/// The HTTP tier of the default stack (drawn at [The stack](crate#the-stack)): auth over the
/// unauthenticated tier.
pub(super) fn http_tier(auth: AuthLayer, unauthenticated: Unauthenticated) -> DefaultHttp {
    ServiceBuilder::new().layer(auth).service(unauthenticated)
}

/// The streaming HTTP tier (see the module docs): auth over the base URI over
/// [`StreamBodyLayer`] over `client` — the default tier's connection pool.
pub(super) fn stream_tier(
    auth: AuthLayer,
    base_url: &BaseUrl,
    client: SharedClient,
    max_body_bytes: usize,
) -> StreamHttp {
    ServiceBuilder::new()
        .layer(auth)
        .layer(BaseUriLayer::new(base_url.clone()))
        .layer(StreamBodyLayer::new(max_body_bytes))
        .service(client)
}
