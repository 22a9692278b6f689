//! What the layers' unit tests share.

use std::future::Future;

/// Bounds a test's wait, so a broken contract fails instead of hanging (on the
/// paused clock, an hour passes at once when nothing else can run).
pub(crate) trait Bounded: Future + Sized {
    fn bounded(self) -> impl Future<Output = Self::Output> {
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(3600), self)
                .await
                .expect("hung: the call never ended")
        }
    }
}

impl<F: Future> Bounded for F {}
