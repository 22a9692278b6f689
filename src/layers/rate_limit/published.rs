//! Feishu's published rate limits, one table keyed by **(HTTP method, URL template)**
//! — a request's [`AilyRequest::METHOD`] and [`AilyRequest::URL_TEMPLATE`], not its
//! operation's name — and the [`Quota`] each becomes under a headroom.
//!
//! Turn them on with
//! [`ClientBuilder::published_rate_limits`](crate::ClientBuilder::published_rate_limits)
//! (or [`RateLimitLayer::published_limits`](super::RateLimitLayer::published_limits)):
//! every request whose method and template are in the table then waits for its slot of
//! that limit — in process, or through the fleet's shared store (Redis), so the
//! replicas together stay under it. A request's own `with_extension(Quota)` and an
//! explicit `operation_quota` win over the table; the client-wide `quota` applies to
//! what the table lacks.
//!
//! # The table
//!
//! Paths under `/open-apis/aily/v1`. Limits are per API × app × tenant (with two
//! windows, either one trips). Sources: **create run**, **create session** — the Feishu
//! doc pages of those endpoints (quoted in `reference/feishu-platform.md` §1.1);
//! **v1 pages** — `spec/aily-v1.md` ("create run 100 per minute; every other endpoint
//! above 1000 per minute and 50 per second", from the reference pages; the platform
//! notes could not find the pages of get/list/cancel run and of messages, so those
//! rows rest on that one statement); **API §1** — `spec/aily-api.md` §1 and §8, each
//! row from its endpoint's doc page.
//!
//! | method | template (after `/open-apis/aily/v1`) | published | source |
//! | --- | --- | --- | --- |
//! | POST | `/sessions` | 1000/min & 50/s | create session |
//! | GET, PUT, DELETE | `/sessions/{aily_session_id}` | 1000/min & 50/s | v1 pages |
//! | POST, GET | `/sessions/{aily_session_id}/messages` | 1000/min & 50/s | v1 pages |
//! | GET | `/sessions/{aily_session_id}/messages/{aily_message_id}` | 1000/min & 50/s | v1 pages |
//! | POST | `/sessions/{aily_session_id}/runs` (create run) | **100/min** | create run |
//! | GET | `/sessions/{aily_session_id}/runs` | 1000/min & 50/s | v1 pages |
//! | GET | `/sessions/{aily_session_id}/runs/{run_id}` | 1000/min & 50/s | v1 pages |
//! | POST | `/sessions/{aily_session_id}/runs/{run_id}/cancel` | 1000/min & 50/s | v1 pages |
//! | GET | `/apps/{app_id}/skills` | 1000/min & 50/s | API §1 row 1 |
//! | GET | `/apps/{app_id}/skills/{skill_id}` | 1000/min & 50/s | API §1 row 2 |
//! | POST | `/apps/{app_id}/skills/{skill_id}/start` | **100/min** | API §1 row 3 |
//! | POST | `/apps/{app_id}/knowledges/ask` | **100/min** | API §1 row 4 |
//! | POST | `/apps/{app_id}/data_assets` | 20/s | API §1 row 5 |
//! | GET | `/apps/{app_id}/data_assets/{data_asset_id}` | 20/s | API §1 row 6 |
//! | DELETE | `/apps/{app_id}/data_assets/{data_asset_id}` | 20/s | API §1 row 7 |
//! | GET | `/apps/{app_id}/data_assets` | **10/s** | API §1 row 8 |
//! | GET | `/apps/{app_id}/data_asset_tags` | 20/s | API §1 row 9 |
//! | POST | `/apps/{app_id}/data_assets/upload_file` | **5/s** | API §1 row 10 |
//!
//! Not in the table, because Feishu publishes no limit for them (API §1 rows 11–20,
//! §8): `GET /app_stats` and everything under `/agents/{agent_id}/…` (third-party
//! pages mention 10/s for agent chat create and 50/s for artifact get; nothing
//! official). A request not in the table gets the client's `quota`, if any.
//!
//! # Headroom and bursts
//!
//! Each published window of `P` calls is applied as `N = P × (100 − headroom) / 100`
//! calls (rounded down, at least 1; default headroom [`DEFAULT_HEADROOM_PERCENT`]:
//! 100/min → 90/min, 50/s → 45/s, 5/s → 4/s). GCRA admits at most `N + B − 1` calls in
//! any span of one period (`B` the burst), so the burst is cut to fit under `P`:
//!
//! * a **per-minute** window bursts **half the headroom**, `(P − N) / 2` (at least 1):
//!   90/min bursts 5, so any 60 s hold at most 94 of the published 100, and the other
//!   half of the headroom absorbs the network's jitter between the decision and
//!   Feishu's clock;
//! * a **per-second** window bursts **1** (calls evenly spaced), as
//!   [`Quota::per_second`] does: 45/s admits at most 45 in any second.
//!
//! With a headroom of 0 the bursts are 1 and any period holds at most `P`.
//!
//! ```
//! use http::Method;
//! use aily_client::rate_limit::published;
//!
//! let create_run = published::limit(&Method::POST, "/open-apis/aily/v1/sessions/{aily_session_id}/runs")
//!     .expect("published");
//! assert_eq!((create_run.per_second(), create_run.per_minute()), (None, Some(100)));
//! let q = create_run.quota(published::DEFAULT_HEADROOM_PERCENT);
//! let w = q.windows().next().unwrap();
//! assert_eq!((w.count(), w.burst()), (90, 5));
//! // Same template, other method: another row.
//! assert_eq!(
//!     published::limit(&Method::GET, "/open-apis/aily/v1/sessions/{aily_session_id}/runs")
//!         .and_then(|l| l.per_second()),
//!     Some(50)
//! );
//! assert!(published::limit(&Method::GET, "/open-apis/aily/v1/app_stats").is_none());
//! ```

use std::marker::PhantomData;

use http::Method;

use super::Quota;
use crate::api::request::AilyRequest;

/// The headroom the builder's [`published_rate_limits`](crate::ClientBuilder::published_rate_limits)
/// leaves under each published limit, in percent.
///
/// ```
/// assert_eq!(aily_client::rate_limit::published::DEFAULT_HEADROOM_PERCENT, 10);
/// ```
pub const DEFAULT_HEADROOM_PERCENT: u32 = 10;

/// One row of the table: a method and URL template, the limits Feishu publishes for
/// it, and where that is written.
///
/// ```
/// use aily_client::rate_limit::published;
/// let upload = published::table()
///     .iter()
///     .find(|l| l.template().ends_with("/upload_file"))
///     .unwrap();
/// assert_eq!(upload.method(), http::Method::POST);
/// assert_eq!(upload.per_second(), Some(5));
/// assert!(upload.source().contains("§1"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedLimit {
    method: &'static Method,
    template: &'static str,
    per_second: Option<u32>,
    per_minute: Option<u32>,
    source: &'static str,
}

impl PublishedLimit {
    /// The HTTP method.
    pub fn method(&self) -> Method {
        self.method.clone()
    }

    /// The URL template, in the crate's placeholder syntax
    /// (`/open-apis/aily/v1/apps/{app_id}/knowledges/ask`).
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// The published calls per second, if Feishu publishes a per-second window.
    pub fn per_second(&self) -> Option<u32> {
        self.per_second
    }

    /// The published calls per minute, if Feishu publishes a per-minute window.
    pub fn per_minute(&self) -> Option<u32> {
        self.per_minute
    }

    /// Where the limit is published (see the module docs' table).
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The quota applied for this limit with `headroom_percent` (at most 100) left
    /// under each window: the count cut by the headroom (at least 1), a per-minute
    /// window bursting half the headroom (at least 1), a per-second window bursting 1.
    ///
    /// ```
    /// use http::Method;
    /// use aily_client::rate_limit::{Quota, published};
    /// let session = published::limit(&Method::POST, "/open-apis/aily/v1/sessions").unwrap();
    /// assert_eq!(session.quota(10), Quota::per_second(45).and_per_minute(900).with_minute_burst(50));
    /// assert_eq!(session.quota(0), Quota::per_second(50).and_per_minute(1000).with_minute_burst(1));
    /// ```
    pub fn quota(&self, headroom_percent: u32) -> Quota {
        let applied = |published: u32| {
            let kept = 100 - u64::from(headroom_percent.min(100));
            ((u64::from(published) * kept / 100) as u32).max(1)
        };
        let mut quota = Quota {
            per_second: None,
            per_minute: None,
        };
        if let Some(p) = self.per_second {
            quota = quota.and_per_second(applied(p));
        }
        if let Some(p) = self.per_minute {
            let n = applied(p);
            quota = quota
                .and_per_minute(n)
                .with_minute_burst((p.saturating_sub(n) / 2).max(1));
        }
        quota
    }
}

/// The table's rows, one a line: `METHOD "path after /open-apis/aily/v1" => per
/// second, per minute, [source];`.
macro_rules! table {
    ($($method:ident $path:literal => $second:expr, $minute:expr, [$($source:tt)+];)*) => {
        &[$(PublishedLimit {
            method: &Method::$method,
            template: concat!("/open-apis/aily/v1", $path),
            per_second: $second,
            per_minute: $minute,
            source: source!($($source)+),
        }),*]
    };
}

/// A row's source: `api N` is row N of `spec/aily-api.md` §1, a name is a constant.
macro_rules! source {
    (api $n:literal) => {
        concat!("spec/aily-api.md §1 row ", $n, " (doc)")
    };
    ($name:ident) => {
        $name
    };
}

const CREATE_SESSION: &str = "create session doc page (reference/feishu-platform.md §1.1)";
const CREATE_RUN: &str = "create run doc page (reference/feishu-platform.md §1.1)";
const V1_PAGES: &str = "spec/aily-v1.md: the v1 reference pages";
// The conversation endpoints' and the skill reads' 50/s & 1000/min.
const S50: Option<u32> = Some(50);
const M1000: Option<u32> = Some(1000);

/// The table (see the module docs). At most 64 rows: a request type's rows are a
/// bit mask, found at compile time.
const TABLE: &[PublishedLimit] = table! {
    POST "/sessions" => S50, M1000, [CREATE_SESSION];
    GET "/sessions/{aily_session_id}" => S50, M1000, [V1_PAGES];
    PUT "/sessions/{aily_session_id}" => S50, M1000, [V1_PAGES];
    DELETE "/sessions/{aily_session_id}" => S50, M1000, [V1_PAGES];
    POST "/sessions/{aily_session_id}/messages" => S50, M1000, [V1_PAGES];
    GET "/sessions/{aily_session_id}/messages" => S50, M1000, [V1_PAGES];
    GET "/sessions/{aily_session_id}/messages/{aily_message_id}" => S50, M1000, [V1_PAGES];
    POST "/sessions/{aily_session_id}/runs" => None, Some(100), [CREATE_RUN];
    GET "/sessions/{aily_session_id}/runs" => S50, M1000, [V1_PAGES];
    GET "/sessions/{aily_session_id}/runs/{run_id}" => S50, M1000, [V1_PAGES];
    POST "/sessions/{aily_session_id}/runs/{run_id}/cancel" => S50, M1000, [V1_PAGES];
    GET "/apps/{app_id}/skills" => S50, M1000, [api 1];
    GET "/apps/{app_id}/skills/{skill_id}" => S50, M1000, [api 2];
    POST "/apps/{app_id}/skills/{skill_id}/start" => None, Some(100), [api 3];
    POST "/apps/{app_id}/knowledges/ask" => None, Some(100), [api 4];
    POST "/apps/{app_id}/data_assets" => Some(20), None, [api 5];
    GET "/apps/{app_id}/data_assets/{data_asset_id}" => Some(20), None, [api 6];
    DELETE "/apps/{app_id}/data_assets/{data_asset_id}" => Some(20), None, [api 7];
    GET "/apps/{app_id}/data_assets" => Some(10), None, [api 8];
    GET "/apps/{app_id}/data_asset_tags" => Some(20), None, [api 9];
    POST "/apps/{app_id}/data_assets/upload_file" => Some(5), None, [api 10];
};

const _: () = assert!(TABLE.len() <= 64, "a request type's rows are a u64 mask");

/// Every row of the table, in the module docs' order.
///
/// ```
/// let rows = aily_client::rate_limit::published::table();
/// assert!(rows.iter().all(|l| l.template().starts_with("/open-apis/aily/v1/")));
/// assert!(rows.iter().all(|l| l.per_second().is_some() || l.per_minute().is_some()));
/// ```
pub fn table() -> &'static [PublishedLimit] {
    TABLE
}

/// The published limit of the request `method template`, if Feishu publishes one.
///
/// ```
/// use http::Method;
/// use aily_client::rate_limit::published;
/// let ask = published::limit(&Method::POST, "/open-apis/aily/v1/apps/{app_id}/knowledges/ask");
/// assert_eq!(ask.unwrap().per_minute(), Some(100));
/// assert!(published::limit(&Method::GET, "/open-apis/aily/v1/apps/{app_id}/knowledges/ask").is_none());
/// ```
pub fn limit(method: &Method, template: &str) -> Option<PublishedLimit> {
    TABLE
        .iter()
        .find(|l| l.method == method && l.template == template)
        .copied()
}

/// Whether two strings are equal, at compile time.
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The rows whose template is `template`, as a bit mask (bit `i`: `TABLE[i]`).
const fn rows_of(template: &str) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < TABLE.len() {
        if same(TABLE[i].template, template) {
            mask |= 1 << i;
        }
        i += 1;
    }
    mask
}

/// The rows of request type `R`'s template, found once, at compile time, per type.
struct RowsOf<R>(PhantomData<R>);

impl<R: AilyRequest> RowsOf<R> {
    const MASK: u64 = rows_of(R::URL_TEMPLATE);
}

/// The published limits applied with one headroom: a quota per row of the table,
/// computed once when the layer is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublishedQuotas {
    headroom_percent: u32,
    quotas: Box<[Quota]>,
}

impl PublishedQuotas {
    pub(crate) fn new(headroom_percent: u32) -> Self {
        PublishedQuotas {
            headroom_percent: headroom_percent.min(100),
            quotas: TABLE.iter().map(|l| l.quota(headroom_percent)).collect(),
        }
    }

    pub(crate) fn headroom_percent(&self) -> u32 {
        self.headroom_percent
    }

    /// The quota of request type `R`, if its method and template are in the table.
    /// No string is compared or hashed at run time: the template's rows are a
    /// constant of `R`, and for a template in the table the method picks one of them.
    #[inline]
    pub(crate) fn of<R: AilyRequest>(&self) -> Option<Quota> {
        let mut mask = RowsOf::<R>::MASK;
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            if *TABLE[i].method == R::METHOD {
                return Some(self.quotas[i]);
            }
            mask &= mask - 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::rate_limit::gcra::tests::{busiest, flat_out};
    use crate::runs::CreateRunRequest;
    use crate::sessions::CreateSessionRequest;
    use crate::{CancelRequest, GetRunRequest};

    fn windows(q: &Quota) -> Vec<(u64, u32, u32)> {
        q.windows()
            .map(|w| (w.period().as_secs(), w.count(), w.burst()))
            .collect()
    }

    #[test]
    fn create_run_is_100_per_minute_applied_as_90_with_the_default_headroom() {
        let published = PublishedQuotas::new(DEFAULT_HEADROOM_PERCENT);
        let q = published.of::<CreateRunRequest>().expect("in the table");
        assert_eq!(windows(&q), [(60, 90, 5)]);
        // At least 1, whatever the headroom.
        let all = PublishedQuotas::new(100).of::<CreateRunRequest>().unwrap();
        assert_eq!(windows(&all), [(60, 1, 1)]);
    }

    #[test]
    fn session_create_is_1000_per_minute_and_50_per_second() {
        let limit = limit(&Method::POST, CreateSessionRequest::URL_TEMPLATE).unwrap();
        assert_eq!(
            (limit.per_second(), limit.per_minute()),
            (Some(50), Some(1000))
        );
        let q = PublishedQuotas::new(DEFAULT_HEADROOM_PERCENT)
            .of::<CreateSessionRequest>()
            .unwrap();
        assert_eq!(windows(&q), [(1, 45, 1), (60, 900, 50)]);
    }

    #[test]
    fn a_template_not_in_the_table_has_no_limit() {
        crate::operation! {
            /// Not published.
            pub AppStats = "aily.app_stats.get", GET "/open-apis/aily/v1/app_stats"
        }
        assert_eq!(
            rows_of(<AppStats as crate::request::Operation>::URL_TEMPLATE),
            0
        );
        assert_eq!(limit(&Method::GET, "/open-apis/aily/v1/app_stats"), None);
        // The right template with another method is not a row either.
        assert_eq!(limit(&Method::PATCH, CreateRunRequest::URL_TEMPLATE), None);
        assert_eq!(limit(&Method::POST, "/open-apis/aily/v1/sessions/"), None);
    }

    #[test]
    fn every_endpoint_of_the_crate_is_in_the_table() {
        let p = PublishedQuotas::new(DEFAULT_HEADROOM_PERCENT);
        let conversation = Some(
            Quota::per_second(45)
                .and_per_minute(900)
                .with_minute_burst(50),
        );
        assert_eq!(p.of::<CancelRequest>(), conversation);
        assert_eq!(p.of::<GetRunRequest>(), conversation);
        assert_eq!(p.of::<crate::runs::ListRunsRequest>(), conversation);
        assert_eq!(p.of::<crate::sessions::GetSessionRequest>(), conversation);
        assert_eq!(
            p.of::<crate::sessions::UpdateSessionRequest>(),
            conversation
        );
        assert_eq!(
            p.of::<crate::sessions::DeleteSessionRequest>(),
            conversation
        );
        assert_eq!(
            p.of::<crate::messages::CreateMessageRequest>(),
            conversation
        );
        assert_eq!(p.of::<crate::messages::GetMessageRequest>(), conversation);
        assert_eq!(p.of::<crate::messages::ListMessagesRequest>(), conversation);
        assert_eq!(p.of::<crate::skills::GetSkillRequest>(), conversation);
        assert_eq!(p.of::<crate::skills::ListSkillsRequest>(), conversation);
    }

    #[test]
    fn every_row_is_one_method_and_template_in_the_crates_syntax() {
        for (i, l) in TABLE.iter().enumerate() {
            assert!(l.template.starts_with("/open-apis/aily/v1/"), "{l:?}");
            // Placeholders as the crate's templates name them: `{…_id}`.
            let parsed = crate::api::request::Template::parse(l.template);
            for name in parsed.placeholders() {
                assert!(name.ends_with("_id"), "{name} in {}", l.template);
                assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            }
            for other in &TABLE[i + 1..] {
                assert!(
                    !(l.method == other.method && l.template == other.template),
                    "twice: {l:?}"
                );
            }
        }
    }

    /// Flat out on every row's applied quota for two of its longest period, as GCRA
    /// decides (the Redis script mirrors it): no span of one period ever holds more
    /// than the published count of that window, for headrooms 0, 10 and 50 %; and
    /// the longest window's busiest period holds at least its applied count (the
    /// budget is used).
    #[test]
    fn no_window_of_any_row_ever_holds_more_than_published() {
        for headroom in [0, DEFAULT_HEADROOM_PERCENT, 50] {
            for l in TABLE {
                let q = l.quota(headroom);
                let longest = q.windows().last().unwrap();
                let times = flat_out(&q, 2 * longest.period().as_micros() as u64);
                for (published, period) in [(l.per_second, 1u64), (l.per_minute, 60)] {
                    let Some(published) = published else { continue };
                    let most = busiest(&times, period * 1_000_000);
                    assert!(
                        most <= published as usize,
                        "{} {}: {most} in {period} s, published {published} (headroom {headroom} %)",
                        l.method,
                        l.template
                    );
                }
                let most = busiest(&times, longest.period().as_micros() as u64);
                assert!(
                    most >= longest.count() as usize,
                    "{l:?}: {most} < {longest:?}"
                );
            }
        }
    }
}
