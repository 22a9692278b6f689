//! Read, delete and list data assets, and list their tags: [`GetDataAssetRequest`],
//! [`DeleteDataAssetRequest`], [`ListDataAssetsRequest`], [`ListDataAssetTagsRequest`];
//! the query settings they share ([`AssetDetails`], [`AssetFilters`]) and
//! [`TenantType`].

use crate::api::data_assets::model::{DataAsset, DataAssetResponse, DataAssetTag};
use crate::api::paginate::{ListEndpoint, ListResponse};
use crate::api::request::{ApiRequest, Endpoint, RawEndpoint, check_text, validate_id};
use crate::error::Error;

/// The longest `app_id` and data asset id, in characters.
pub const MAX_ASSET_ID_CHARS: usize = 255;
/// The most ids one list request filters by (this crate's bound: the query stays
/// short; the platform documents none).
pub const MAX_FILTER_IDS: usize = 100;
/// The most items a list page holds.
pub const MAX_ASSET_PAGE_SIZE: u32 = 100;

/// The environment a request acts on, query `tenant_type`: `online` (the
/// platform's default) or `dev`. Create, delete and upload act on `dev` only, and
/// always send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantType {
    /// `online`.
    Online,
    /// `dev`.
    Dev,
}

impl TenantType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantType::Online => "online",
            TenantType::Dev => "dev",
        }
    }
}

/// A request on app `app_id` (at most 255 characters) and, when given, one asset,
/// of any data-asset endpoint.
pub(crate) fn app_request<E: RawEndpoint>(
    app_id: &str,
    asset: &[&str],
) -> Result<ApiRequest<E>, Error> {
    for (field, id) in
        std::iter::once(("app_id", app_id)).chain(asset.iter().map(|id| ("data_asset_id", *id)))
    {
        validate_id(field, id)?;
        check_text(field, id, MAX_ASSET_ID_CHARS)?;
    }
    let mut ids = vec![app_id];
    ids.extend_from_slice(asset);
    ApiRequest::with_ids(&ids)
}

/// Ids for a repeated query key: at most [`MAX_FILTER_IDS`], each a valid id.
fn filter_ids<S: Into<String>>(
    field: &str,
    ids: impl IntoIterator<Item = S>,
) -> Result<Vec<String>, Error> {
    let ids: Vec<String> = ids
        .into_iter()
        .take(MAX_FILTER_IDS + 1)
        .map(Into::into)
        .collect();
    if ids.len() > MAX_FILTER_IDS {
        return Err(Error::invalid_input(format!(
            "invalid {field}: at most {MAX_FILTER_IDS} are allowed"
        )));
    }
    for id in &ids {
        validate_id(field, id)?;
        check_text(field, id, MAX_ASSET_ID_CHARS)?;
    }
    Ok(ids)
}

fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}

/// The requests whose reply can carry an asset's items and ingestion status: get
/// and list.
pub trait AssetDetails: RawEndpoint {}

impl<E: AssetDetails> ApiRequest<E> {
    /// Query `with_data_asset_item`: whether the reply carries the assets' items.
    pub fn with_data_asset_item(self, on: bool) -> Self {
        self.with_query("with_data_asset_item", flag(on))
    }

    /// Query `with_connect_status`: whether the reply carries the assets'
    /// ingestion status (poll with it until
    /// [`ConnectStatus::is_settled`](crate::data_assets::ConnectStatus::is_settled)).
    pub fn with_connect_status(self, on: bool) -> Self {
        self.with_query("with_connect_status", flag(on))
    }
}

/// The list requests filtered by keyword and tags: data assets and their tags.
pub trait AssetFilters: ListEndpoint {}

impl<E: AssetFilters> ApiRequest<E> {
    /// Query `keyword`: a fuzzy match on the name (at most 255 characters).
    pub fn keyword(self, keyword: impl AsRef<str>) -> Result<Self, Error> {
        check_text("keyword", keyword.as_ref(), 255)?;
        Ok(self.with_query("keyword", keyword))
    }

    /// Query `data_asset_tag_ids`, repeated: only these tags (or the assets with
    /// them); at most [`MAX_FILTER_IDS`].
    pub fn data_asset_tag_ids<S: Into<String>>(
        self,
        ids: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        let ids = filter_ids("data_asset_tag_ids", ids)?;
        Ok(self.with_query_values("data_asset_tag_ids", ids))
    }
}

/// What a read or a list answers to: permission, parameters, and, on one asset,
/// "not found".
const READ_ERRORS: &[(i64, &str)] = &[
    (2700001, "param is invalid"),
    (
        2701004,
        "permission denied: needs the developer or operator role",
    ),
    (2700404, "data asset not found"),
];

crate::operation! {
    @target "aily_client::data_assets";
    /// Reads one data asset of an app.
    pub GetDataAsset = "aily.data_asset.get", GET "/open-apis/aily/v1/apps/{app_id}/data_assets/{data_asset_id}"
}

impl Endpoint for GetDataAsset {
    type Response = DataAssetResponse;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = READ_ERRORS;
}

impl AssetDetails for GetDataAsset {}

/// `GET /open-apis/aily/v1/apps/:app_id/data_assets/:data_asset_id`: the asset as it
/// is now (with [`with_connect_status`](ApiRequest::with_connect_status), how far
/// its ingestion is).
///
/// ```
/// use aily_client::data_assets::{GetDataAssetRequest, TenantType};
///
/// let req = GetDataAssetRequest::new("spring_1__c", "asset_1")?
///     .with_connect_status(true)
///     .tenant_type(TenantType::Dev);
/// assert_eq!(req.path(), "/open-apis/aily/v1/apps/spring_1__c/data_assets/asset_1");
/// assert_eq!(req.query().as_str(), "with_connect_status=true&tenant_type=dev");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type GetDataAssetRequest = ApiRequest<GetDataAsset>;

impl GetDataAssetRequest {
    /// Read asset `data_asset_id` of app `app_id` (both at most 255 characters).
    pub fn new(app_id: impl AsRef<str>, data_asset_id: impl AsRef<str>) -> Result<Self, Error> {
        app_request(app_id.as_ref(), &[data_asset_id.as_ref()])
    }

    /// Query `tenant_type`: the environment read (`online` when not sent).
    pub fn tenant_type(self, tenant_type: TenantType) -> Self {
        self.with_query("tenant_type", tenant_type.as_str())
    }
}

crate::operation! {
    @target "aily_client::data_assets";
    /// Deletes one data asset of an app.
    pub DeleteDataAsset = "aily.data_asset.delete", DELETE "/open-apis/aily/v1/apps/{app_id}/data_assets/{data_asset_id}"
}

impl Endpoint for DeleteDataAsset {
    type Response = DataAssetResponse;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = &[
        (2700001, "param is invalid"),
        (
            2701004,
            "permission denied: needs the developer or operator role",
        ),
        (2700404, "data asset not found"),
        (
            2700026,
            "data assets are deleted in the dev environment only",
        ),
    ];
}

/// `DELETE /open-apis/aily/v1/apps/:app_id/data_assets/:data_asset_id?tenant_type=dev`:
/// answers the asset it deleted. Retried like every `DELETE` (a second delete of a
/// deleted asset answers 2700404, not a second deletion).
///
/// ```
/// use aily_client::data_assets::DeleteDataAssetRequest;
///
/// let req = DeleteDataAssetRequest::new("spring_1__c", "asset_1")?;
/// assert_eq!(req.query().as_str(), "tenant_type=dev");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type DeleteDataAssetRequest = ApiRequest<DeleteDataAsset>;

impl DeleteDataAssetRequest {
    /// Delete asset `data_asset_id` of app `app_id` (both at most 255 characters).
    pub fn new(app_id: impl AsRef<str>, data_asset_id: impl AsRef<str>) -> Result<Self, Error> {
        Ok(app_request(app_id.as_ref(), &[data_asset_id.as_ref()])?
            .with_query("tenant_type", TenantType::Dev.as_str()))
    }
}

crate::operation! {
    @target "aily_client::data_assets";
    /// Lists an app's data assets, a page at a time.
    pub ListDataAssets = "aily.data_asset.list", GET "/open-apis/aily/v1/apps/{app_id}/data_assets"
}

impl Endpoint for ListDataAssets {
    type Response = ListResponse<DataAsset>;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = READ_ERRORS;
}

impl ListEndpoint for ListDataAssets {
    type Item = DataAsset;
    const MAX_PAGE_SIZE: u32 = MAX_ASSET_PAGE_SIZE;
}

impl AssetDetails for ListDataAssets {}
impl AssetFilters for ListDataAssets {}

/// `GET /open-apis/aily/v1/apps/:app_id/data_assets`: one page of an app's data
/// assets ([`page_size`](ApiRequest::page_size) at most 100,
/// [`page_token`](ApiRequest::page_token), [`keyword`](ApiRequest::keyword),
/// [`data_asset_ids`](ListDataAssetsRequest::data_asset_ids),
/// [`data_asset_tag_ids`](ApiRequest::data_asset_tag_ids), and the two `with_*`
/// flags); [`Client::data_assets_stream`](crate::Client::data_assets_stream) follows
/// every page.
///
/// ```
/// use aily_client::data_assets::ListDataAssetsRequest;
///
/// let req = ListDataAssetsRequest::new("spring_1__c")?
///     .page_size(100)?
///     .data_asset_ids(["asset_1", "asset_2"])?
///     .with_data_asset_item(false);
/// assert_eq!(
///     req.query().as_str(),
///     "page_size=100&data_asset_ids=asset_1&data_asset_ids=asset_2&with_data_asset_item=false"
/// );
/// assert!(ListDataAssetsRequest::new("spring_1__c")?.page_size(101).is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type ListDataAssetsRequest = ApiRequest<ListDataAssets>;

impl ListDataAssetsRequest {
    /// The first page of app `app_id`'s data assets (the server's page size, 20).
    pub fn new(app_id: impl AsRef<str>) -> Result<Self, Error> {
        app_request(app_id.as_ref(), &[])
    }

    /// Query `data_asset_ids`, repeated: only these assets (at most
    /// [`MAX_FILTER_IDS`]).
    pub fn data_asset_ids<S: Into<String>>(
        self,
        ids: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        let ids = filter_ids("data_asset_ids", ids)?;
        Ok(self.with_query_values("data_asset_ids", ids))
    }
}

crate::operation! {
    @target "aily_client::data_assets";
    /// Lists an app's data-asset tags, a page at a time.
    pub ListDataAssetTags = "aily.data_asset_tag.list", GET "/open-apis/aily/v1/apps/{app_id}/data_asset_tags"
}

impl Endpoint for ListDataAssetTags {
    type Response = ListResponse<DataAssetTag>;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = &[(2700001, "param is invalid")];
}

impl ListEndpoint for ListDataAssetTags {
    type Item = DataAssetTag;
    const MAX_PAGE_SIZE: u32 = MAX_ASSET_PAGE_SIZE;
}

impl AssetFilters for ListDataAssetTags {}

/// `GET /open-apis/aily/v1/apps/:app_id/data_asset_tags`: one page of an app's
/// data-asset tags ([`page_size`](ApiRequest::page_size) at most 100,
/// [`page_token`](ApiRequest::page_token), [`keyword`](ApiRequest::keyword),
/// [`data_asset_tag_ids`](ApiRequest::data_asset_tag_ids));
/// [`Client::data_asset_tags_stream`](crate::Client::data_asset_tags_stream) follows
/// every page.
///
/// ```
/// use aily_client::data_assets::ListDataAssetTagsRequest;
///
/// let req = ListDataAssetTagsRequest::new("spring_1__c")?.keyword("hand book")?;
/// assert_eq!(req.query().as_str(), "keyword=hand%20book");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type ListDataAssetTagsRequest = ApiRequest<ListDataAssetTags>;

impl ListDataAssetTagsRequest {
    /// The first page of app `app_id`'s data-asset tags (the server's page size, 20).
    pub fn new(app_id: impl AsRef<str>) -> Result<Self, Error> {
        app_request(app_id.as_ref(), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_filters_are_checked() {
        assert!(GetDataAssetRequest::new("a".repeat(256), "x").is_err());
        assert!(GetDataAssetRequest::new("a", "x".repeat(256)).is_err());
        assert!(GetDataAssetRequest::new("a".repeat(255), "x".repeat(255)).is_ok());
        assert!(DeleteDataAssetRequest::new("a", "..").is_err());
        let list = || ListDataAssetsRequest::new("spring_1__c").unwrap();
        assert!(list().keyword("k".repeat(256)).is_err());
        assert!(
            list()
                .data_asset_ids((0..101).map(|i| format!("a{i}")))
                .is_err()
        );
        assert!(list().data_asset_tag_ids(["a b"]).is_err());
        let none: [&str; 0] = [];
        assert_eq!(list().data_asset_ids(none).unwrap().query().as_str(), "");
    }
}
