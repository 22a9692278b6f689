//! App stats: [`ListAppStatsRequest`] lists the usage statistics of the tenant's
//! workflow and agent apps over a window, a page at a time (`GET
//! /open-apis/aily/v1/app_stats`). A **tenant token** call, and the one Aily API a
//! store (ISV) app may make. The model is lenient: every field may be missing,
//! fields this version does not know are ignored.

use serde::{Deserialize, Serialize};

use crate::api::paginate::{ListEndpoint, ListResponse, PageItem};
use crate::api::request::{ApiRequest, Endpoint, check_text};
use crate::api::wire::opt_string_or_number;
use crate::error::Error;

crate::operation! {
    @target "aily_client::app_stats";
    /// Lists the tenant's app stats, a page at a time.
    pub ListAppStats = "aily.app_stats.list", GET "/open-apis/aily/v1/app_stats"
}

/// The usage of one app over the window asked for. The four numbers are floats.
///
/// ```
/// let stat: aily_client::app_stats::AppStat = serde_json::from_str(r#"{
///     "id": "app_1", "name": "Helper", "avg_daily_run_num": 2.5, "total_credit_usage": 10,
///     "owner": {"id": "1", "name": "Ann", "open_id": "ou_1"},
///     "app_created_at": "2026-06-04 10:00:00", "new_field": true
/// }"#).unwrap();
/// assert_eq!(stat.avg_daily_run_num, 2.5);
/// assert_eq!(stat.owner.open_id.as_deref(), Some("ou_1"));
/// assert_eq!(stat.app_created_at, "2026-06-04 10:00:00");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AppStat {
    /// The app's id (`app_…`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Average daily active users.
    pub avg_daily_active_user_num: f64,
    /// Average daily runs.
    pub avg_daily_run_num: f64,
    /// Average daily credits used.
    pub avg_daily_credit_usage: f64,
    /// Credits used over the window.
    pub total_credit_usage: f64,
    /// Who owns the app.
    pub owner: AppStatOwner,
    /// When the app was created, as sent: `"YYYY-MM-DD HH:mm:ss"` without a time zone.
    pub app_created_at: String,
}

/// The owner of an app in [`AppStat`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AppStatOwner {
    /// The owner's id (a number is kept as its text).
    #[serde(deserialize_with = "opt_string_or_number")]
    pub id: Option<String>,
    /// The owner's name.
    pub name: String,
    /// The owner's tenant.
    #[serde(deserialize_with = "opt_string_or_number")]
    pub tenant_id: Option<String>,
    /// The owner's Lark user id.
    #[serde(deserialize_with = "opt_string_or_number")]
    pub lark_user_id: Option<String>,
    /// The owner's open user id, when sent.
    pub open_user_id: Option<String>,
    /// The owner's open id, when sent.
    pub open_id: Option<String>,
}

impl PageItem for AppStat {
    const LIST_FIELD: &'static str = "items";
}

impl Endpoint for ListAppStats {
    type Response = ListResponse<AppStat>;
    type Body = ();
}

impl ListEndpoint for ListAppStats {
    type Item = AppStat;
}

/// `GET /open-apis/aily/v1/app_stats`: one page of app stats between two Unix
/// seconds ([`filter_type`](ListAppStatsRequest::filter_type), default `all`;
/// [`page_size`](ApiRequest::page_size), [`page_token`](ApiRequest::page_token));
/// [`paginate::pages`](crate::api::paginate::pages) and
/// [`Client::app_stats_stream`](crate::Client::app_stats_stream) follow every page.
///
/// ```
/// use aily_client::app_stats::ListAppStatsRequest;
///
/// let req = ListAppStatsRequest::new(1_698_729_600, 1_701_321_599)?.page_size(20)?;
/// assert_eq!(
///     aily_client::AilyRequest::to_http(&req).uri(),
///     "/open-apis/aily/v1/app_stats?start_at=1698729600&end_at=1701321599&filter_type=all&page_size=20"
/// );
/// assert!(ListAppStatsRequest::new(2, 1).unwrap_err().to_string().contains("start_at"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type ListAppStatsRequest = ApiRequest<ListAppStats>;

impl ListAppStatsRequest {
    /// The stats from `start_at` to `end_at` (Unix seconds, `start_at ≤ end_at`), of
    /// every app (`filter_type=all`).
    pub fn new(start_at: u64, end_at: u64) -> Result<Self, Error> {
        if start_at > end_at {
            return Err(Error::invalid_input(format!(
                "invalid start_at: {start_at} is after end_at {end_at}"
            )));
        }
        Ok(ApiRequest::with_ids(&[])?
            .with_query("start_at", start_at.to_string())
            .with_query("end_at", end_at.to_string())
            .with_query("filter_type", "all"))
    }

    /// Which apps (`all` by default; the other values are not documented): 1 to 64
    /// characters.
    pub fn filter_type(self, filter: &str) -> Result<Self, Error> {
        if filter.is_empty() || filter.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "invalid filter_type: must be non-empty, without control characters",
            ));
        }
        check_text("filter_type", filter, 64)?;
        Ok(self.with_query("filter_type", filter))
    }
}
