//! The pagination model: one page of a list reply, [`Page`]; the [`PageItem`]
//! trait that names the field holding a page's items (implemented beside each item
//! type); a list endpoint, [`ListEndpoint`], with its reply, [`ListResponse`], and the
//! `page_size`/`page_token` setters every list request has.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::api::wire::LenientBool;

/// An item of a list endpoint: names the field of `data` that holds a page of
/// them (`messages` for list messages, `runs` for list runs).
///
/// ```
/// use aily_client::paginate::PageItem;
///
/// assert_eq!(<aily_client::Run as PageItem>::LIST_FIELD, "runs");
/// assert_eq!(<aily_client::messages::Message as PageItem>::LIST_FIELD, "messages");
/// ```
pub trait PageItem {
    /// The field of the reply's `data` holding the items, e.g. `runs`.
    const LIST_FIELD: &'static str;
}

/// One page of a list: the `data` of a list reply, e.g.
/// `{"runs": [...], "has_more": true, "page_token": "…"}`.
///
/// Decoding is lenient: the items are read from [`PageItem::LIST_FIELD`] (or
/// `items`); a missing or `null` list is empty; the next token is read from
/// `page_token` or, as some SDKs spell it, `next_page_token`; `has_more` may be
/// a boolean or the string `"true"`/`"false"`, and is `false` when missing.
/// Encoding writes `LIST_FIELD`, `has_more` and `page_token` (when there is one).
///
/// ```
/// use aily_client::Run;
/// use aily_client::paginate::Page;
///
/// let page: Page<Run> = serde_json::from_str(
///     r#"{"runs": [{"id": "run_1"}], "has_more": true, "next_page_token": "pt_2"}"#,
/// ).unwrap();
/// assert_eq!(page.items[0].id, "run_1");
/// assert_eq!(page.next_page_token(), Some("pt_2"));
///
/// let last: Page<Run> = serde_json::from_str(r#"{"runs": [], "has_more": false}"#).unwrap();
/// assert_eq!(last.next_page_token(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page, in the server's order.
    pub items: Vec<T>,
    /// Whether the server says there are more pages.
    pub has_more: bool,
    /// The token of the next page, as sent (possibly empty).
    pub page_token: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            has_more: false,
            page_token: None,
        }
    }
}

impl<T> Page<T> {
    /// A page of `items`; `page_token` is the next page's token, if any.
    ///
    /// ```
    /// let page = aily_client::paginate::Page::new(vec![1, 2], true, Some("pt".into()));
    /// assert_eq!(page.next_page_token(), Some("pt"));
    /// ```
    pub fn new(items: Vec<T>, has_more: bool, page_token: Option<String>) -> Self {
        Page {
            items,
            has_more,
            page_token,
        }
    }

    /// The token to ask for the next page with: `Some` only while `has_more`
    /// is true and the token is not empty (the rule the SDKs follow to stop).
    /// A client following pages must also stop (with an error) when a token
    /// repeats, or it may loop forever.
    pub fn next_page_token(&self) -> Option<&str> {
        self.page_token
            .as_deref()
            .filter(|t| self.has_more && !t.is_empty())
    }
}

impl<T: Serialize + PageItem> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(T::LIST_FIELD, &self.items)?;
        map.serialize_entry("has_more", &self.has_more)?;
        if let Some(token) = &self.page_token {
            map.serialize_entry("page_token", token)?;
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de> + PageItem> Deserialize<'de> for Page<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PageVisitor(PhantomData))
    }
}

struct PageVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + PageItem> Visitor<'de> for PageVisitor<T> {
    type Value = Page<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a page object with `{}`", T::LIST_FIELD)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page<T>, A::Error> {
        let mut page = Page::default();
        let mut token: Option<String> = None;
        let mut next_token: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == T::LIST_FIELD || key == "items" {
                page.items = map.next_value::<Option<Vec<T>>>()?.unwrap_or_default();
            } else if key == "has_more" {
                page.has_more = map.next_value::<LenientBool>()?.0;
            } else if key == "page_token" {
                token = map.next_value()?;
            } else if key == "next_page_token" {
                next_token = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        // Prefer a non-empty token, `page_token` first.
        page.page_token = match (token, next_token) {
            (Some(t), _) if !t.is_empty() => Some(t),
            (t, None) => t,
            (_, n) => n,
        };
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Run, RunStatus};

    #[test]
    fn decodes_a_list_runs_reply() {
        let page: Page<Run> = serde_json::from_str(
            r#"{"runs":[{"id":"run_1","status":"COMPLETED"},{"id":"run_2"}],
            "page_token":"pt_1","has_more":true,"extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0].status, RunStatus::Completed);
        assert_eq!(page.next_page_token(), Some("pt_1"));
    }

    #[test]
    fn tolerates_spellings_and_missing_fields() {
        let page: Page<Run> = serde_json::from_str(
            r#"{"items":[{"id":"r"}],"has_more":"true","next_page_token":"n","page_token":""}"#,
        )
        .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next_page_token(), Some("n"));
        let empty: Page<Run> = serde_json::from_str(r#"{"runs":null,"has_more":null}"#).unwrap();
        assert_eq!(empty, Page::default());
        assert_eq!(empty.next_page_token(), None);
        let no_more: Page<Run> =
            serde_json::from_str(r#"{"runs":[],"has_more":false,"page_token":"x"}"#).unwrap();
        assert_eq!(no_more.next_page_token(), None, "has_more false stops");
        let empty_token: Page<Run> =
            serde_json::from_str(r#"{"has_more":true,"page_token":""}"#).unwrap();
        assert_eq!(empty_token.next_page_token(), None, "an empty token stops");
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        for bad in [
            r#"{"runs":{"id":"r"}}"#,
            r#"{"runs":[1]}"#,
            r#"{"has_more":1}"#,
            r#"{"has_more":"maybe"}"#,
            r#"{"page_token":5}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<Page<Run>>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips() {
        let page = Page::new(
            vec![Run {
                id: "run_1".into(),
                ..Run::default()
            }],
            true,
            Some("pt".into()),
        );
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["runs"][0]["id"], "run_1");
        assert_eq!(json["has_more"], true);
        assert_eq!(json["page_token"], "pt");
        assert_eq!(serde_json::from_value::<Page<Run>>(json).unwrap(), page);
    }
}

/// The `data` of a list reply: one page of the list (decoded as [`Page`] is).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(transparent, bound = "T: Deserialize<'de> + PageItem")]
#[non_exhaustive]
pub struct ListResponse<T> {
    /// The page.
    pub page: Page<T>,
}

/// A list endpoint: its reply is one page of `Item`s.
pub trait ListEndpoint:
    crate::api::request::Endpoint<Response = ListResponse<<Self as ListEndpoint>::Item>>
{
    /// What the list holds.
    type Item: serde::de::DeserializeOwned + PageItem + Send + 'static;
    /// The largest `page_size` the endpoint documents (none by default): a larger
    /// one is refused by [`page_size`](crate::api::request::ApiRequest::page_size)
    /// before anything is sent.
    const MAX_PAGE_SIZE: u32 = u32::MAX;
}

impl<E: ListEndpoint> crate::api::request::ApiRequest<E> {
    /// At most `size` items per page (at least 1, at most the endpoint's
    /// [`MAX_PAGE_SIZE`](ListEndpoint::MAX_PAGE_SIZE); the server's default is 20).
    pub fn page_size(self, size: u32) -> Result<Self, crate::Error> {
        if size == 0 {
            return Err(crate::Error::invalid_input(
                "invalid page_size: must be at least 1",
            ));
        }
        if size > E::MAX_PAGE_SIZE {
            return Err(crate::Error::invalid_input(format!(
                "invalid page_size: at most {} is allowed",
                E::MAX_PAGE_SIZE
            )));
        }
        Ok(self.with_query("page_size", size.to_string()))
    }

    /// The page that `token` (a previous page's [`Page::page_token`]) names.
    pub fn page_token(self, token: impl AsRef<str>) -> Self {
        self.with_query("page_token", token)
    }
}
