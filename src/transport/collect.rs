//! [`CollectBodyLayer`]: reads the whole reply body, up to a limit.
//!
//! It sits at the bottom of the stack so that the attempt timeout covers reading
//! the body, and every layer above sees a complete `http::Response<Bytes>`.
//! A body over the limit is an error as soon as the limit is crossed (at once when
//! `Content-Length` says so): memory stays near the limit whatever the server sends,
//! and the connection, its body unread, is not reused.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::api::envelope::log_id_header;
use crate::error::{BoxError, Error, ErrorKind};

/// The default limit on a reply body: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Collects each reply body into [`Bytes`], failing with
/// [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge) past `limit` bytes.
///
/// ```
/// use aily_client::transport::CollectBodyLayer;
/// use http_body_util::Full;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::from("hello"))))
/// });
/// let svc = CollectBodyLayer::new(4).layer(server);
/// let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
/// assert!(err.to_string().contains("larger than 4 bytes"));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CollectBodyLayer {
    limit: usize,
}

impl CollectBodyLayer {
    /// Collect bodies of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        CollectBodyLayer { limit }
    }
}

impl Default for CollectBodyLayer {
    fn default() -> Self {
        CollectBodyLayer::new(DEFAULT_MAX_BODY_BYTES)
    }
}

impl<S> Layer<S> for CollectBodyLayer {
    type Service = CollectBody<S>;
    fn layer(&self, inner: S) -> CollectBody<S> {
        CollectBody {
            inner,
            limit: self.limit,
        }
    }
}

/// The service of [`CollectBodyLayer`].
#[derive(Clone, Debug)]
pub struct CollectBody<S> {
    inner: S,
    limit: usize,
}

impl<S> CollectBody<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CollectBody<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: Body<Data = Bytes>,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Bytes>;
    type Error = BoxError;
    type Future = CollectFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        CollectFuture {
            state: State::Head {
                future: self.inner.call(req),
            },
            limit: self.limit,
        }
    }
}

pin_project! {
    /// The future of [`CollectBody`].
    pub struct CollectFuture<F, B> {
        #[pin]
        state: State<F, B>,
        limit: usize,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Head { #[pin] future: F },
        Body {
            head: Option<http::response::Parts>,
            #[pin] body: B,
            // The first chunk, kept without copying while it is the only one.
            first: Option<Bytes>,
            // Chunks gathered once there is more than one.
            gathered: Option<BytesMut>,
            read: usize,
            capacity_hint: usize,
        },
    }
}

impl<F, B, E> Future for CollectFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Bytes>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Head { future } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    let (head, body) = response.into_parts();
                    let declared = body.size_hint().exact().or_else(|| {
                        head.headers
                            .get(http::header::CONTENT_LENGTH)?
                            .to_str()
                            .ok()?
                            .parse()
                            .ok()
                    });
                    if let Some(len) = declared
                        && len > *this.limit as u64
                    {
                        return Poll::Ready(Err(too_large(&head, *this.limit)));
                    }
                    let capacity_hint = declared
                        .map_or(0, |len| len as usize)
                        .max(body.size_hint().lower() as usize)
                        .min(*this.limit);
                    this.state.set(State::Body {
                        head: Some(head),
                        body,
                        first: None,
                        gathered: None,
                        read: 0,
                        capacity_hint,
                    });
                }
                StateProj::Body {
                    head,
                    mut body,
                    first,
                    gathered,
                    read,
                    capacity_hint,
                } => {
                    let frame = ready!(body.as_mut().poll_frame(cx));
                    let Some(head_ref) = head.as_ref() else {
                        return Poll::Ready(Err(Error::new(
                            ErrorKind::Other,
                            "reply polled after completion",
                        )
                        .into()));
                    };
                    match frame {
                        Some(Ok(frame)) => {
                            let Ok(data) = frame.into_data() else {
                                continue; // trailers carry nothing this client reads
                            };
                            *read += data.len();
                            if *read > *this.limit {
                                return Poll::Ready(Err(too_large(head_ref, *this.limit)));
                            }
                            if let Some(buf) = gathered.as_mut() {
                                buf.extend_from_slice(&data);
                            } else if let Some(prev) = first.take() {
                                let mut buf = BytesMut::with_capacity((*capacity_hint).max(*read));
                                buf.extend_from_slice(&prev);
                                buf.extend_from_slice(&data);
                                *gathered = Some(buf);
                            } else {
                                *first = Some(data);
                            }
                        }
                        Some(Err(e)) => {
                            let log_id = log_id_header(&head_ref.headers);
                            return Poll::Ready(Err(Error::new(
                                ErrorKind::Transport,
                                "the connection failed while reading the reply body",
                            )
                            .with_status(head_ref.status)
                            .with_log_id(log_id)
                            .with_source(e)
                            .into()));
                        }
                        None => {
                            let bytes = match (gathered.take(), first.take()) {
                                (Some(buf), _) => buf.freeze(),
                                (None, Some(one)) => one,
                                (None, None) => Bytes::new(),
                            };
                            let head = head.take().expect("checked above");
                            return Poll::Ready(Ok(Response::from_parts(head, bytes)));
                        }
                    }
                }
            }
        }
    }
}

/// Collects the body of a reply already received, as [`CollectBody`] would (what the
/// streaming tier does for every reply that is not an event stream).
pub(crate) fn collect_response<B>(
    response: Response<B>,
    limit: usize,
) -> CollectFuture<std::future::Ready<Result<Response<B>, std::convert::Infallible>>, B> {
    CollectFuture {
        state: State::Head {
            future: std::future::ready(Ok(response)),
        },
        limit,
    }
}

fn too_large(head: &http::response::Parts, limit: usize) -> BoxError {
    Error::new(
        ErrorKind::BodyTooLarge,
        format!("the reply body is larger than {limit} bytes"),
    )
    .with_status(head.status)
    .with_log_id(log_id_header(&head.headers))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use tower::ServiceExt;

    /// A body that yields the given chunks, one frame each.
    struct Chunks(VecDeque<&'static str>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes())))),
            )
        }
    }

    async fn collect(limit: usize, chunks: &[&'static str]) -> Result<Response<Bytes>, Error> {
        let chunks: VecDeque<_> = chunks.iter().copied().collect();
        let server = tower::service_fn(move |_: Request<()>| {
            let body = Chunks(chunks.clone());
            async move { Ok::<_, std::convert::Infallible>(Response::new(body)) }
        });
        CollectBodyLayer::new(limit)
            .layer(server)
            .oneshot(Request::new(()))
            .await
            .map_err(Error::from_box)
    }

    #[tokio::test]
    async fn gathers_chunks_and_enforces_limit_while_streaming() {
        assert_eq!(
            collect(5, &["ab", "cd", "e"]).await.unwrap().into_body(),
            "abcde"
        );
        assert_eq!(collect(5, &["abcde"]).await.unwrap().into_body(), "abcde");
        assert_eq!(collect(5, &[]).await.unwrap().into_body(), "");
        let err = collect(5, &["ab", "cd", "ef"]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
    }
}
