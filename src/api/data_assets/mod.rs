//! Data assets (data knowledge) of an Aily app: upload a file
//! ([`UploadFileRequest`]), create an asset from it or another source
//! ([`CreateDataAssetRequest`]), read ([`GetDataAssetRequest`]), delete
//! ([`DeleteDataAssetRequest`]) and list them ([`ListDataAssetsRequest`]), and list
//! their tags ([`ListDataAssetTagsRequest`]); the model, [`DataAsset`].
//!
//! Create, delete and upload act on the app's **dev** environment only: they
//! always send `tenant_type=dev`. Ingestion is asynchronous: poll get with
//! `with_connect_status(true)` until [`ConnectStatus::is_settled`]. Every error
//! code the platform documents for an endpoint is said in its errors' messages
//! (2700034 is "unsupported file type" here, something else on knowledge ask).
//!
//! ```no_run
//! # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
//! use aily_client::data_assets::{
//!     CreateDataAssetRequest, DataAssetSource, FileSource, FileType, UploadFileRequest,
//! };
//!
//! let upload = UploadFileRequest::from_path("spring_1__c", "handbook.pdf")?;
//! let token = client.upload_data_asset_file(upload).await?.into_data().file_info.token;
//! let source = DataAssetSource::File(FileSource::uploaded("Handbook", token, FileType::Pdf)?);
//! let created = client
//!     .create_data_asset(CreateDataAssetRequest::new("spring_1__c", source)?)
//!     .await?;
//! println!("{}", created.data_asset.data_asset_id);
//! # Ok(()) }
//! ```

pub mod create;
pub mod model;
pub mod requests;
pub mod upload;

pub use create::{
    ChunkSetting, CreateDataAsset, CreateDataAssetRequest, DataAssetBody, DataAssetSource,
    FileSource, FileType, ImportKnowledgeSetting, LarkDocSource, LarkDocType, LarkHelpdeskSource,
    LarkWikiSpaceSource, SeparateType, WikiSubDoc,
};
pub use model::{
    ConnectStatus, ConnectType, DataAsset, DataAssetItem, DataAssetResource, DataAssetResponse,
    DataAssetTag, DataSourceType, FileInfo, LocaleText, ResourceType, UploadFileResponse,
};
pub use requests::{
    AssetDetails, AssetFilters, DeleteDataAsset, DeleteDataAssetRequest, GetDataAsset,
    GetDataAssetRequest, ListDataAssetTags, ListDataAssetTagsRequest, ListDataAssets,
    ListDataAssetsRequest, TenantType,
};
pub use upload::{MAX_UPLOAD_BYTES, UploadFile, UploadFileRequest};
