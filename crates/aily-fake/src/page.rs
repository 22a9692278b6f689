//! Pagination of the list endpoints: `page_size`, `page_token`, `has_more`.

use serde_json::{Map, Value};

use super::conv::{Call, Outcome};
use super::reply::ParamError;

/// The page size when a request sends none.
const DEFAULT_PAGE_SIZE: usize = 20;

fn token(offset: usize) -> String {
    format!("pt_{offset}")
}

fn parse_token(token: &str) -> Option<usize> {
    token.strip_prefix("pt_")?.parse().ok()
}

/// One page of `items` as the `data` of a list reply: `{field: [...],
/// has_more, page_token?}`. `page_size` (default 20, capped at `max`) must be
/// a positive integer and `page_token` one this fake issued.
pub(crate) fn render(call: &Call, max: usize, field: &str, items: Vec<Value>) -> Outcome {
    render_with(call, max, field, "page_token", items)
}

/// [`render`], the next page's token in `token_field` (the agent session list
/// says `next_page_token`).
pub(crate) fn render_with(
    call: &Call,
    max: usize,
    field: &str,
    token_field: &str,
    items: Vec<Value>,
) -> Outcome {
    let size = match call.query("page_size") {
        None | Some("") => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ParamError::new("page_size", raw, "must be a positive integer"))?,
    }
    .min(max.max(1));
    let sent = call.query("page_token").filter(|t| !t.is_empty());
    let offset = match sent {
        None => 0,
        Some(raw) => parse_token(raw)
            .ok_or_else(|| ParamError::new("page_token", raw, "invalid page token"))?,
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let end = offset.saturating_add(size);
    let mut has_more = end < total;
    let mut next = has_more.then(|| token(end));
    if call.endless_page_tokens {
        // A broken server: always "there is more", always a new token.
        has_more = true;
        next = Some(token(end));
    }
    if call.repeat_page_token {
        // A broken server: the same token again, and "there is more".
        has_more = true;
        next = Some(sent.map_or_else(|| next.unwrap_or_else(|| token(0)), str::to_owned));
    }
    let mut data = Map::new();
    data.insert(field.into(), Value::Array(page));
    data.insert("has_more".into(), has_more.into());
    if let Some(next) = next {
        data.insert(token_field.into(), next.into());
    }
    Ok(Value::Object(data))
}

/// An optional boolean query parameter: `true` / `false` in any case (the
/// Python SDK sends `True`).
pub(crate) fn query_bool(call: &Call, name: &'static str) -> Result<bool, ParamError> {
    match call.query(name) {
        None | Some("") => Ok(false),
        Some(raw) if raw.eq_ignore_ascii_case("true") => Ok(true),
        Some(raw) if raw.eq_ignore_ascii_case("false") => Ok(false),
        Some(raw) => Err(ParamError::new(name, raw, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(query: &[(&str, &str)], repeat: bool) -> Call {
        Call {
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            repeat_page_token: repeat,
            ..Call::default()
        }
    }

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(Value::from).collect()
    }

    #[test]
    fn walks_pages() {
        let first = render(&call(&[("page_size", "2")], false), 100, "runs", items(5)).unwrap();
        assert_eq!(first["runs"], serde_json::json!([0, 1]));
        assert_eq!(first["has_more"], true);
        let token = first["page_token"].as_str().unwrap().to_owned();
        let last = render(
            &call(&[("page_size", "2"), ("page_token", "pt_4")], false),
            100,
            "runs",
            items(5),
        )
        .unwrap();
        assert_eq!(last["runs"], serde_json::json!([4]));
        assert_eq!(last["has_more"], false);
        assert!(last.get("page_token").is_none());
        assert_eq!(token, "pt_2");
    }

    #[test]
    fn size_defaults_and_caps() {
        let page = render(&call(&[], false), 100, "m", items(30)).unwrap();
        assert_eq!(page["m"].as_array().unwrap().len(), 20);
        let capped = render(&call(&[("page_size", "50")], false), 7, "m", items(30)).unwrap();
        assert_eq!(capped["m"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for (name, value) in [
            ("page_size", "0"),
            ("page_size", "-1"),
            ("page_size", "x"),
            ("page_token", "nope"),
        ] {
            let err = render(&call(&[(name, value)], false), 100, "m", items(3)).unwrap_err();
            assert_eq!(err.field, name);
        }
        assert!(query_bool(&call(&[("p", "True")], false), "p").unwrap());
        assert!(!query_bool(&call(&[("p", "FALSE")], false), "p").unwrap());
        assert!(!query_bool(&call(&[], false), "p").unwrap());
        assert!(query_bool(&call(&[("p", "yes")], false), "p").is_err());
    }

    #[test]
    fn repeating_server_repeats() {
        let first = render(&call(&[], true), 100, "m", items(3)).unwrap();
        assert_eq!(first["has_more"], true);
        assert_eq!(first["page_token"], "pt_0");
        let again = render(&call(&[("page_token", "pt_0")], true), 100, "m", items(3)).unwrap();
        assert_eq!(again["page_token"], "pt_0");
        assert_eq!(again["m"], first["m"]);
    }
}
