//! The response body type of the fake server.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

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
        }
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
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
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(_) | Self::Stalled { .. } => SizeHint::with_exact(self.remaining()),
            Self::Generated { exact: true, .. } => SizeHint::with_exact(self.remaining()),
            Self::Generated { exact: false, .. } => SizeHint::new(),
        }
    }
}
