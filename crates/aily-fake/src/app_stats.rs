//! App stats (`GET /open-apis/aily/v1/app_stats`): the stats added with
//! `FakeAily::add_app_stat`, each at a Unix second, filtered by the
//! `start_at`/`end_at` window and paged.

use serde_json::Value;

use super::conv::{Call, Outcome};
use super::page;
use super::reply::ParamError;

/// Most stats per page.
const MAX_PAGE: usize = 100;

/// The stats, each with the Unix second it is for.
#[derive(Debug, Default)]
pub(crate) struct AppStats {
    pub(crate) items: Vec<(u64, Value)>,
}

impl AppStats {
    /// `GET app_stats`: `start_at`, `end_at` (Unix seconds, `start_at ≤
    /// end_at`) and `filter_type` are required.
    pub(crate) fn list(&self, call: &Call) -> Outcome {
        let seconds = |name: &'static str| -> Result<u64, ParamError> {
            let raw = call
                .query(name)
                .ok_or(ParamError::hidden(name, "is required"))?;
            raw.parse()
                .map_err(|_| ParamError::new(name, raw, "must be Unix seconds"))
        };
        let start = seconds("start_at")?;
        let end = seconds("end_at")?;
        if start > end {
            return Err(ParamError::new(
                "end_at",
                &end.to_string(),
                "must not be before start_at",
            ));
        }
        match call.query("filter_type") {
            Some(f) if !f.is_empty() => {}
            _ => return Err(ParamError::hidden("filter_type", "is required")),
        }
        let items = self
            .items
            .iter()
            .filter(|(at, _)| (start..=end).contains(at))
            .map(|(_, stat)| stat.clone())
            .collect();
        page::render(call, MAX_PAGE, "items", items)
    }
}
