//! Authentication: [`AuthLayer`] puts `Authorization: Bearer <token>` (marked
//! sensitive) on every attempt.
//!
//! With a fixed token the layer costs one header insert and forwards the inner
//! future as it is. With a [`TokenSource`], each attempt asks the source for its
//! current token, and a reply saying the token is invalid makes the layer call
//! [`TokenSource::invalidate`] and, if the source has a fresher token, replay the
//! request exactly once.

mod tenant;
mod token;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::Deserialize;
use tower::{Layer, Service};

pub use tenant::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_REFRESH_MARGIN, TENANT_TOKEN_PATH, TenantTokenSource,
};
pub(crate) use token::CredentialsInner;
pub use token::{AccessToken, Credentials, SecretString, TokenFuture, TokenKind, TokenSource};

use crate::envelope::is_token_code;
use crate::error::BoxError;
use crate::transport::RequestBody;

#[derive(Clone, Debug)]
enum Tokens {
    Fixed(AccessToken),
    Source(Arc<dyn TokenSource>),
}

/// Adds the access token to every request.
///
/// ```
/// use aily_client::auth::AuthLayer;
/// use aily_client::{AccessToken, TokenKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aily_client::Error> {
/// let http = tower::service_fn(|req: http::Request<aily_client::transport::RequestBody>| async move {
///     let auth = req.headers()["authorization"].clone();
///     assert!(auth.is_sensitive());
///     Ok::<_, aily_client::BoxError>(http::Response::new(bytes::Bytes::from(auth.as_bytes().to_vec())))
/// });
/// let svc = AuthLayer::fixed(AccessToken::new(TokenKind::Tenant, "t-abc")?).layer(http);
/// let resp = svc.oneshot(http::Request::new(Default::default())).await.unwrap();
/// assert_eq!(resp.body(), "Bearer t-abc");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    tokens: Tokens,
}

impl AuthLayer {
    /// Always sends `token`.
    pub fn fixed(token: AccessToken) -> Self {
        AuthLayer {
            tokens: Tokens::Fixed(token),
        }
    }

    /// Asks `source` for the token on every attempt.
    pub fn from_source(source: Arc<dyn TokenSource>) -> Self {
        AuthLayer {
            tokens: Tokens::Source(source),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    tokens: Tokens,
}

impl<S> Auth<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<RequestBody>> for Auth<S>
where
    S: Service<Request<RequestBody>, Response = Response<Bytes>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = Response<Bytes>;
    type Error = BoxError;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<RequestBody>) -> Self::Future {
        match &self.tokens {
            Tokens::Fixed(token) => {
                req.headers_mut()
                    .insert(AUTHORIZATION, token.header_value().clone());
                AuthFuture {
                    state: AuthState::Fixed {
                        inner: self.inner.call(req),
                    },
                }
            }
            Tokens::Source(source) => {
                // The ready service goes into the future; a fresh clone stays behind.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                AuthFuture {
                    state: AuthState::Source {
                        inner: Box::pin(call_with_source(inner, source.clone(), req)),
                    },
                }
            }
        }
    }
}

async fn call_with_source<S>(
    mut inner: S,
    source: Arc<dyn TokenSource>,
    req: Request<RequestBody>,
) -> Result<Response<Bytes>, BoxError>
where
    S: Service<Request<RequestBody>, Response = Response<Bytes>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    let replay = copy_request(&req);
    let token = source.token().await?;
    let response = send(&mut inner, req, &token).await?;
    if !rejects_token(&response) || !source.invalidate(&token) {
        return Ok(response);
    }
    let fresh = source.token().await?;
    tower::ServiceExt::ready(&mut inner)
        .await
        .map_err(Into::into)?;
    send(&mut inner, replay, &fresh).await
}

async fn send<S>(
    inner: &mut S,
    mut req: Request<RequestBody>,
    token: &AccessToken,
) -> Result<Response<Bytes>, BoxError>
where
    S: Service<Request<RequestBody>, Response = Response<Bytes>>,
    S::Error: Into<BoxError>,
{
    req.headers_mut()
        .insert(AUTHORIZATION, token.header_value().clone());
    inner.call(req).await.map_err(Into::into)
}

fn copy_request(req: &Request<RequestBody>) -> Request<RequestBody> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// True when the reply's envelope says the token is invalid or expired.
fn rejects_token(response: &Response<Bytes>) -> bool {
    #[derive(Deserialize)]
    struct Code {
        code: i64,
    }
    serde_json::from_slice::<Code>(response.body()).is_ok_and(|c| is_token_code(c.code))
}

pin_project! {
    /// The future of [`Auth`]: the inner future as it is for a fixed token, a boxed one
    /// for a token source (which must await the token, and may replay).
    pub struct AuthFuture<F> {
        #[pin]
        state: AuthState<F>,
    }
}

pin_project! {
    #[project = AuthStateProj]
    enum AuthState<F> {
        Fixed { #[pin] inner: F },
        Source { inner: BoxFuture<Result<Response<Bytes>, BoxError>> },
    }
}

impl<F, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<Response<Bytes>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Bytes>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            AuthStateProj::Fixed { inner } => inner.poll(cx).map_err(Into::into),
            AuthStateProj::Source { inner } => inner.as_mut().poll(cx),
        }
    }
}
