//! The data asset as the API returns it: [`DataAsset`], its tags, items and
//! resources, and the open enums of its fields.
//!
//! Decoding is lenient: every field may be missing, unknown fields are ignored, a
//! value this version does not know is kept in an enum's `Unknown`, and the times
//! are kept as the strings of Unix milliseconds they are sent as ([`Timestamp`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::paginate::PageItem;
use crate::api::runs::Timestamp;
use crate::api::wire::{null_as_default, wire_enum};

/// A locale map, as `label` and `description` are sent: `{"zh_cn": "…", "en_us": "…"}`.
pub type LocaleText = BTreeMap<String, String>;

/// One data asset (data knowledge) of an Aily app.
///
/// ```
/// use aily_client::data_assets::{ConnectStatus, DataAsset, DataSourceType};
///
/// let asset: DataAsset = serde_json::from_str(r#"{
///     "data_asset_id": "asset_1", "label": {"zh_cn": "手册"},
///     "data_source_type": "pdf", "connect_status": "syncing",
///     "tags": [{"data_asset_tag_id": "spring_1__c__asset_tag_1", "name": "docs"}],
///     "created_time": "1711975665710", "something_new": 1
/// }"#).unwrap();
/// assert_eq!(asset.label["zh_cn"], "手册");
/// assert_eq!(asset.data_source_type, DataSourceType::Pdf);
/// assert_eq!(asset.connect_status, ConnectStatus::Syncing);
/// assert!(!asset.connect_status.is_settled());
/// assert_eq!(asset.created_time.unwrap().millis(), Some(1711975665710));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataAsset {
    /// The asset's ID (`asset_…`).
    pub data_asset_id: String,
    /// Its name, by locale.
    #[serde(deserialize_with = "null_as_default")]
    pub label: LocaleText,
    /// What it holds, by locale.
    #[serde(deserialize_with = "null_as_default")]
    pub description: LocaleText,
    /// Where its data comes from.
    pub data_source_type: DataSourceType,
    /// How far ingestion is (sent when asked for, `with_connect_status`).
    pub connect_status: ConnectStatus,
    /// Why ingestion failed, when it did.
    pub connect_failed_reason: Option<String>,
    /// Imported or connected directly.
    pub connect_type: ConnectType,
    /// Its tags.
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<DataAssetTag>,
    /// Its items (sent when asked for, `with_data_asset_item`).
    #[serde(deserialize_with = "null_as_default")]
    pub items: Vec<DataAssetItem>,
    /// When it was created (a string of Unix milliseconds).
    pub created_time: Option<Timestamp>,
    /// When it last changed (a string of Unix milliseconds).
    pub updated_time: Option<Timestamp>,
}

impl PageItem for DataAsset {
    const LIST_FIELD: &'static str = "items";
}

/// A data asset's tag: `{data_asset_tag_id, name}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataAssetTag {
    /// The tag's ID (`spring_…__c__asset_tag_…`).
    pub data_asset_tag_id: String,
    /// Its display name.
    pub name: String,
}

impl PageItem for DataAssetTag {
    const LIST_FIELD: &'static str = "items";
}

/// One item of a data asset (a table, a document).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataAssetItem {
    /// The item's ID.
    pub data_asset_item_id: String,
    /// Its API name.
    pub api_name: String,
    /// Its name, by locale.
    #[serde(deserialize_with = "null_as_default")]
    pub label: LocaleText,
    /// What it holds, by locale.
    #[serde(deserialize_with = "null_as_default")]
    pub description: LocaleText,
    /// What the platform made of it.
    #[serde(deserialize_with = "null_as_default")]
    pub resources: Vec<DataAssetResource>,
}

/// A resource of a data asset's item: a dataset or a vector index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataAssetResource {
    /// The resource's ID.
    pub resource_id: String,
    /// Its kind.
    pub resource_type: ResourceType,
}

wire_enum! {
    /// The kind of a [`DataAssetResource`]. Unknown values are kept.
    pub enum ResourceType ("a resource type string") {
        /// `dataset`.
        Dataset = "dataset",
        /// `vector`.
        Vector = "vector",
    }
}

wire_enum! {
    /// How far a data asset's ingestion is. Unknown values are kept.
    ///
    /// ```
    /// use aily_client::data_assets::ConnectStatus;
    /// assert!(ConnectStatus::from("failed").is_settled());
    /// assert!(!ConnectStatus::from("awaiting").is_settled());
    /// assert_eq!(ConnectStatus::from("paused"), ConnectStatus::Unknown("paused".into()));
    /// ```
    pub enum ConnectStatus ("a connect status string") {
        /// `awaiting`: not started.
        Awaiting = "awaiting",
        /// `syncing`: being ingested.
        Syncing = "syncing",
        /// `successful`: ingested.
        Successful = "successful",
        /// `continuously_syncing`: a direct connection, kept in sync.
        ContinuouslySyncing = "continuously_syncing",
        /// `partially_successful`: ingested in part.
        PartiallySuccessful = "partially_successful",
        /// `failed`: see [`DataAsset::connect_failed_reason`].
        Failed = "failed",
    }
}

impl ConnectStatus {
    /// True once ingestion is over (`successful`, `partially_successful`,
    /// `failed`, or `continuously_syncing` for a direct connection): polling get
    /// can stop.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            ConnectStatus::Successful
                | ConnectStatus::PartiallySuccessful
                | ConnectStatus::Failed
                | ConnectStatus::ContinuouslySyncing
        )
    }
}

wire_enum! {
    /// How a data asset is connected. Unknown values are kept.
    pub enum ConnectType ("a connect type string") {
        /// `import`: the data is copied in.
        Import = "import",
        /// `direct`: the source is read where it is.
        Direct = "direct",
    }
}

wire_enum! {
    /// Where a data asset's data comes from. Unknown values are kept.
    pub enum DataSourceType ("a data source type string") {
        /// `excel`.
        Excel = "excel",
        /// `pdf`.
        Pdf = "pdf",
        /// `pptx`.
        Pptx = "pptx",
        /// `txt`.
        Txt = "txt",
        /// `docx`.
        Docx = "docx",
        /// `mysql`.
        Mysql = "mysql",
        /// `postgresql`.
        Postgresql = "postgresql",
        /// `larkbase`.
        Larkbase = "larkbase",
        /// `salesforce`.
        Salesforce = "salesforce",
        /// `fenxiangxiaoke`.
        Fenxiangxiaoke = "fenxiangxiaoke",
        /// `qianchuan`.
        Qianchuan = "qianchuan",
        /// `clickhouse`.
        Clickhouse = "clickhouse",
        /// `databricks`.
        Databricks = "databricks",
        /// `servicedesk`.
        Servicedesk = "servicedesk",
        /// `object`.
        Object = "object",
        /// `larkbiz_wiki`.
        LarkbizWiki = "larkbiz_wiki",
        /// `larkbiz_doc`.
        LarkbizDoc = "larkbiz_doc",
        /// `larkbiz_docs`.
        LarkbizDocs = "larkbiz_docs",
        /// `larkbiz_docx`.
        LarkbizDocx = "larkbiz_docx",
        /// `larkbiz_pdf`.
        LarkbizPdf = "larkbiz_pdf",
        /// `larkbiz_word`.
        LarkbizWord = "larkbiz_word",
        /// `larkbiz_pptx`.
        LarkbizPptx = "larkbiz_pptx",
        /// `larkbiz_sheets`.
        LarkbizSheets = "larkbiz_sheets",
        /// `larkbiz_base`.
        LarkbizBase = "larkbiz_base",
        /// `larkbiz_personalfolder`.
        LarkbizPersonalfolder = "larkbiz_personalfolder",
        /// `larkbiz_sharedfolder`.
        LarkbizSharedfolder = "larkbiz_sharedfolder",
    }
}

/// The `data` of create, get and delete: `{data_asset}` (delete answers the asset
/// it deleted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataAssetResponse {
    /// The asset.
    pub data_asset: DataAsset,
}

/// What upload file answers: the file's token (for
/// [`FileSource::uploaded`](crate::data_assets::FileSource::uploaded)) and the type
/// the platform detected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FileInfo {
    /// The uploaded file's token.
    pub token: String,
    /// Its MIME type, as detected.
    pub mime_type: String,
}

/// The `data` of upload file: `{file_info}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UploadFileResponse {
    /// The uploaded file.
    pub file_info: FileInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_decodes_and_stays_lenient() {
        let asset: DataAsset = serde_json::from_str(
            r#"{"data_asset_id":"asset_aadg","label":{"zh_cn":"a","zh_ch":"b"},
            "description":null,"data_source_type":"larkbiz_wiki","connect_status":"failed",
            "connect_failed_reason":"no access","connect_type":"direct","tags":null,
            "items":[{"data_asset_item_id":"item_1","api_name":"t","label":{"en_us":"T"},
              "resources":[{"resource_id":"r1","resource_type":"vector"},
                           {"resource_id":"r2","resource_type":"graph"}]}],
            "created_time":"1711975665710","updated_time":1711975665711}"#,
        )
        .unwrap();
        assert_eq!(asset.label.len(), 2);
        assert!(asset.description.is_empty());
        assert_eq!(asset.data_source_type, DataSourceType::LarkbizWiki);
        assert_eq!(asset.connect_type, ConnectType::Direct);
        assert_eq!(asset.connect_failed_reason.as_deref(), Some("no access"));
        let resources = &asset.items[0].resources;
        assert_eq!(resources[0].resource_type, ResourceType::Vector);
        assert_eq!(
            resources[1].resource_type,
            ResourceType::Unknown("graph".into())
        );
        assert_eq!(asset.updated_time.unwrap().as_str(), "1711975665711");
        let empty: DataAsset = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, DataAsset::default());
        assert!(serde_json::from_str::<DataAsset>(r#"{"label":"x"}"#).is_err());
    }
}
