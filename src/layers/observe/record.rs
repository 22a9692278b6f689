//! Where the crate records its metrics, the same calls with or without the feature
//! `metrics`: with it, [`crate::layers::observe::metrics`]' instruments; without it, this module's
//! no-op twins, which compile to nothing. No call site needs a `#[cfg]`.

#[cfg(feature = "metrics")]
pub(crate) use crate::layers::observe::metrics::{
    Instruments, TokenFetch, background_cancel, rate_limit_fail_fast, rate_limit_wait, retry,
};

#[cfg(all(feature = "metrics", feature = "redis"))]
pub(crate) use crate::layers::observe::metrics::store_fallback;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// The no-op twins of [`crate::layers::observe::metrics`]' recording calls.
#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Duration;

    use crate::layers::observe::Observer;
    use crate::transport::BaseUrl;

    /// No instruments: observes nothing.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Instruments;

    impl Instruments {
        /// Whether anything is recorded (the clock is read only then).
        pub(crate) const ENABLED: bool = false;

        /// Nothing to label.
        pub(crate) fn server(self, _base: &BaseUrl) -> Self {
            self
        }
    }

    impl Observer for Instruments {}

    #[inline(always)]
    pub(crate) fn retry(_operation: &'static str, _reason: &'static str) {}

    #[inline(always)]
    pub(crate) fn rate_limit_wait(_operation: &'static str, _wait: Duration) {}

    #[inline(always)]
    pub(crate) fn rate_limit_fail_fast(_operation: &'static str) {}

    #[inline(always)]
    pub(crate) fn background_cancel(_outcome: &'static str) {}

    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn store_fallback(_command: &'static str) {}

    /// A token request, counted by nothing.
    pub(crate) struct TokenFetch;

    impl TokenFetch {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            TokenFetch
        }

        #[inline(always)]
        pub(crate) fn succeeded(self) {}
    }
}
