//! The response body type of the fake server.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Size of one padding frame of an oversized body.
const PAD_CHUNK: usize = 16 * 1024;

/// Padding source: JSON-string-safe filler bytes.
static PAD: [u8; PAD_CHUNK] = [b'a'; PAD_CHUNK];

/// A response body: complete bytes, a body that stalls after its first chunk,
/// or a generated (possibly large) body streamed in several frames.
#[derive(Debug)]
pub(crate) enum FakeBody {
    /// The whole body in one frame.
    Full(Option<Bytes>),
    /// Sends `first`, then never completes (and never errors).
    Stalled {
        first: Option<Bytes>,
        /// Bytes announced but never sent after `first`.
        rest: u64,
    },
    /// `prefix`, `pad` filler bytes, `suffix`, in several frames.
    Generated {
        prefix: Option<Bytes>,
        pad: usize,
        suffix: Option<Bytes>,
        /// Whether the size hint is exact (so a `content-length` is sent).
        exact: bool,
    },
    /// `chunks`, one frame each, `pace` apart (tokio's clock); then the end, or —
    /// `stall` — nothing more, ever, the connection left open.
    Paced {
        chunks: VecDeque<Bytes>,
        pace: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        stall: bool,
    },
}

impl FakeBody {
    /// A body made of `bytes`.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Self::Full(None)
        } else {
            Self::Full(Some(bytes))
        }
    }

    /// A paced body (see [`FakeBody::Paced`]).
    pub(crate) fn paced(chunks: VecDeque<Bytes>, pace: Duration, stall: bool) -> Self {
        Self::Paced {
            chunks,
            pace,
            sleep: None,
            stall,
        }
    }

    /// Total bytes still to come, when known.
    fn remaining(&self) -> u64 {
        match self {
            Self::Full(bytes) => bytes.as_ref().map_or(0, |b| b.len() as u64),
            Self::Stalled { first, rest } => first
                .as_ref()
                .map_or(0, |b| b.len() as u64)
                .saturating_add(*rest),
            Self::Generated {
                prefix,
                pad,
                suffix,
                ..
            } => (prefix.as_ref().map_or(0, Bytes::len) as u64)
                .saturating_add(*pad as u64)
                .saturating_add(suffix.as_ref().map_or(0, Bytes::len) as u64),
            Self::Paced { chunks, .. } => chunks.iter().map(|c| c.len() as u64).sum(),
        }
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stalled { first, .. } => match first.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                // Never woken: the task holding this body is dropped when the
                // client goes away or the fake server shuts down.
                None => Poll::Pending,
            },
            Self::Generated {
                prefix,
                pad,
                suffix,
                ..
            } => {
                if let Some(b) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                if *pad > 0 {
                    let n = (*pad).min(PAD_CHUNK);
                    *pad -= n;
                    let chunk = PAD.get(..n).unwrap_or(&[]);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk)))));
                }
                Poll::Ready(suffix.take().map(|b| Ok(Frame::data(b))))
            }
            Self::Paced {
                chunks,
                pace,
                sleep,
                stall,
            } => {
                if let Some(timer) = sleep.as_mut() {
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                match chunks.pop_front() {
                    Some(chunk) => {
                        if !chunks.is_empty() && !pace.is_zero() {
                            *sleep = Some(Box::pin(tokio::time::sleep(*pace)));
                        }
                        Poll::Ready(Some(Ok(Frame::data(chunk))))
                    }
                    // Stalled: never woken, like `Stalled`.
                    None if *stall => Poll::Pending,
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stalled { .. } => false,
            Self::Generated {
                prefix,
                pad,
                suffix,
                ..
            } => prefix.is_none() && *pad == 0 && suffix.is_none(),
            Self::Paced { chunks, stall, .. } => chunks.is_empty() && !*stall,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(_) | Self::Stalled { .. } => SizeHint::with_exact(self.remaining()),
            Self::Generated { exact: true, .. } => SizeHint::with_exact(self.remaining()),
            Self::Generated { exact: false, .. } | Self::Paced { .. } => SizeHint::new(),
        }
    }
}
