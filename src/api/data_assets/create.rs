//! Create a data asset: [`CreateDataAssetRequest`], from one [`DataAssetSource`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::data_assets::model::{DataAssetResponse, LocaleText};
use crate::api::data_assets::requests::{TenantType, app_request};
use crate::api::request::{ApiRequest, Endpoint, check_text, validate_id};
use crate::error::Error;

crate::operation! {
    @target "aily_client::data_assets";
    /// Creates a data asset of an app.
    pub CreateDataAsset = "aily.data_asset.create", POST "/open-apis/aily/v1/apps/{app_id}/data_assets"
}

/// The longest `file.content`, in characters.
pub const MAX_FILE_CONTENT_CHARS: usize = 65_536;
/// The longest `file.url`, in characters.
pub const MAX_FILE_URL_CHARS: usize = 65_535;

/// The body of create data asset: the connect and source types, and only the
/// source's own sub-object.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct DataAssetBody {
    /// `import` or `direct` (the source decides).
    pub connect_type: &'static str,
    /// `file`, `lark_doc`, `lark_wiki_space` or `lark_helpdesk`.
    pub source_type: &'static str,
    /// The source, and how an import is chunked.
    pub import_knowledge_setting: ImportKnowledgeSetting,
    /// What the asset holds, by locale.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub description: LocaleText,
}

/// `import_knowledge_setting`: the chunking and the one source.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ImportKnowledgeSetting {
    /// How the text is cut (the platform's default when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_setting: Option<ChunkSetting>,
    /// The source: serialized as its one field (`file`, `lark_doc`, …).
    #[serde(flatten)]
    pub source: DataAssetSource,
}

/// Where a data asset's data comes from: exactly one source, which also decides
/// `source_type` and `connect_type` (a file or a cloud doc is imported, a wiki space
/// or a helpdesk connected directly).
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub enum DataAssetSource {
    /// A file: uploaded ([`FileSource::uploaded`]) or given as text.
    #[serde(rename = "file")]
    File(FileSource),
    /// A Feishu cloud document (needs a user token).
    #[serde(rename = "lark_doc")]
    LarkDoc(LarkDocSource),
    /// A Feishu wiki space (needs a user token).
    #[serde(rename = "lark_wiki_space")]
    LarkWikiSpace(LarkWikiSpaceSource),
    /// A Feishu helpdesk.
    #[serde(rename = "lark_helpdesk")]
    LarkHelpdesk(LarkHelpdeskSource),
}

impl DataAssetSource {
    /// `source_type` on the wire.
    pub fn source_type(&self) -> &'static str {
        match self {
            DataAssetSource::File(_) => "file",
            DataAssetSource::LarkDoc(_) => "lark_doc",
            DataAssetSource::LarkWikiSpace(_) => "lark_wiki_space",
            DataAssetSource::LarkHelpdesk(_) => "lark_helpdesk",
        }
    }

    /// `connect_type` on the wire: `import` for a file or a cloud doc, `direct`
    /// for a wiki space or a helpdesk (the only pairs the platform accepts).
    pub fn connect_type(&self) -> &'static str {
        match self {
            DataAssetSource::File(_) | DataAssetSource::LarkDoc(_) => "import",
            DataAssetSource::LarkWikiSpace(_) | DataAssetSource::LarkHelpdesk(_) => "direct",
        }
    }
}

/// The types of file a data asset is made from (and upload accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileType {
    /// `.txt`, `text/plain`.
    Txt,
    /// `.pdf`, `application/pdf`.
    Pdf,
    /// `.docx`, Word's OOXML type.
    Docx,
    /// `.pptx`, PowerPoint's OOXML type.
    Pptx,
}

impl FileType {
    /// The type of a file name's extension (any case), if it is one of the four.
    ///
    /// ```
    /// use aily_client::data_assets::FileType;
    /// assert_eq!(FileType::from_file_name("Report.PDF"), Some(FileType::Pdf));
    /// assert_eq!(FileType::from_file_name("setup.exe"), None);
    /// assert_eq!(FileType::from_file_name("docx"), None);
    /// ```
    pub fn from_file_name(name: &str) -> Option<FileType> {
        let (_, ext) = name.rsplit_once('.')?;
        [FileType::Txt, FileType::Pdf, FileType::Docx, FileType::Pptx]
            .into_iter()
            .find(|t| t.extension().eq_ignore_ascii_case(ext))
    }

    /// The extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileType::Txt => "txt",
            FileType::Pdf => "pdf",
            FileType::Docx => "docx",
            FileType::Pptx => "pptx",
        }
    }

    /// The MIME type.
    pub fn mime_type(self) -> &'static str {
        match self {
            FileType::Txt => "text/plain",
            FileType::Pdf => "application/pdf",
            FileType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileType::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
        }
    }
}

/// `import_knowledge_setting.file`: a file by its upload token, or its text.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct FileSource {
    /// The title (at most 255 characters).
    pub title: String,
    /// The upload's token (wins over `content`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The text (at most 65 536 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The MIME type.
    pub mime_type: &'static str,
    /// Where the file is from (at most 65 535 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl FileSource {
    /// The file uploaded as `token` (from [`FileInfo::token`](crate::data_assets::FileInfo::token)),
    /// titled `title`.
    ///
    /// ```
    /// use aily_client::data_assets::{FileSource, FileType};
    /// let file = FileSource::uploaded("Handbook", "boxcn_1", FileType::Pdf)?.url("https://example.com/h.pdf")?;
    /// # let _ = file;
    /// assert!(FileSource::uploaded("Handbook", "", FileType::Pdf).is_err());
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn uploaded(
        title: impl Into<String>,
        token: impl Into<String>,
        file_type: FileType,
    ) -> Result<FileSource, Error> {
        let token = token.into();
        validate_id("file.token", &token)?;
        check_text("file.token", &token, 255)?;
        Ok(FileSource {
            token: Some(token),
            ..FileSource::titled(title, file_type)?
        })
    }

    /// A file whose text is `content` (at most 65 536 characters).
    pub fn content(
        title: impl Into<String>,
        content: impl Into<String>,
        file_type: FileType,
    ) -> Result<FileSource, Error> {
        let content = content.into();
        check_text("file.content", &content, MAX_FILE_CONTENT_CHARS)?;
        Ok(FileSource {
            content: Some(content),
            ..FileSource::titled(title, file_type)?
        })
    }

    /// Sets where the file is from (at most 65 535 characters).
    pub fn url(mut self, url: impl Into<String>) -> Result<FileSource, Error> {
        let url = url.into();
        check_text("file.url", &url, MAX_FILE_URL_CHARS)?;
        self.url = Some(url);
        Ok(self)
    }

    fn titled(title: impl Into<String>, file_type: FileType) -> Result<FileSource, Error> {
        let title = title.into();
        check_text("file.title", &title, 255)?;
        Ok(FileSource {
            title,
            token: None,
            content: None,
            mime_type: file_type.mime_type(),
            url: None,
        })
    }
}

/// The kinds of Feishu cloud document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LarkDocType {
    /// `doc`.
    Doc,
    /// `file`.
    File,
    /// `wiki`.
    Wiki,
    /// `docx`.
    Docx,
    /// `folder`.
    Folder,
}

/// `import_knowledge_setting.lark_doc`: a cloud document.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct LarkDocSource {
    /// The document's kind.
    #[serde(rename = "type")]
    pub doc_type: LarkDocType,
    /// Its token.
    pub token: String,
    /// With its sub-documents (wiki only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_sub_docs: Option<bool>,
}

impl LarkDocSource {
    /// The document `token` of kind `doc_type`.
    pub fn new(doc_type: LarkDocType, token: impl Into<String>) -> Result<LarkDocSource, Error> {
        let token = token.into();
        validate_id("lark_doc.token", &token)?;
        Ok(LarkDocSource {
            doc_type,
            token,
            with_sub_docs: None,
        })
    }

    /// With the wiki's sub-documents (only for [`LarkDocType::Wiki`]).
    pub fn with_sub_docs(mut self, on: bool) -> Result<LarkDocSource, Error> {
        if self.doc_type != LarkDocType::Wiki {
            return Err(Error::invalid_input(
                "invalid lark_doc.with_sub_docs: only a wiki has sub-documents",
            ));
        }
        self.with_sub_docs = Some(on);
        Ok(self)
    }
}

/// `import_knowledge_setting.lark_wiki_space`: a wiki space, or some of its pages.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct LarkWikiSpaceSource {
    /// The space's ID.
    pub space_id: String,
    /// Only these pages (`{type: "wiki", token, url?}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sub_docs: Vec<WikiSubDoc>,
    /// The space's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A page of a wiki space.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct WikiSubDoc {
    /// Always `wiki`.
    #[serde(rename = "type")]
    pub doc_type: &'static str,
    /// The page's token.
    pub token: String,
    /// Its URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl LarkWikiSpaceSource {
    /// Wiki space `space_id`.
    pub fn new(space_id: impl Into<String>) -> Result<LarkWikiSpaceSource, Error> {
        let space_id = space_id.into();
        validate_id("lark_wiki_space.space_id", &space_id)?;
        Ok(LarkWikiSpaceSource {
            space_id,
            sub_docs: Vec::new(),
            url: None,
        })
    }

    /// Adds page `token` (with its URL, if given).
    pub fn sub_doc(
        mut self,
        token: impl Into<String>,
        url: Option<&str>,
    ) -> Result<LarkWikiSpaceSource, Error> {
        let token = token.into();
        validate_id("lark_wiki_space.sub_docs.token", &token)?;
        if let Some(url) = url {
            check_text("lark_wiki_space.sub_docs.url", url, MAX_FILE_URL_CHARS)?;
        }
        self.sub_docs.push(WikiSubDoc {
            doc_type: "wiki",
            token,
            url: url.map(str::to_owned),
        });
        Ok(self)
    }

    /// Sets the space's URL.
    pub fn url(mut self, url: impl Into<String>) -> Result<LarkWikiSpaceSource, Error> {
        let url = url.into();
        check_text("lark_wiki_space.url", &url, MAX_FILE_URL_CHARS)?;
        self.url = Some(url);
        Ok(self)
    }
}

/// `import_knowledge_setting.lark_helpdesk`: a Feishu helpdesk.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct LarkHelpdeskSource {
    /// The helpdesk's ID.
    pub helpdesk_id: String,
}

impl LarkHelpdeskSource {
    /// Helpdesk `helpdesk_id`.
    pub fn new(helpdesk_id: impl Into<String>) -> Result<LarkHelpdeskSource, Error> {
        let helpdesk_id = helpdesk_id.into();
        validate_id("lark_helpdesk.helpdesk_id", &helpdesk_id)?;
        Ok(LarkHelpdeskSource { helpdesk_id })
    }
}

/// How an import is cut into chunks: by the platform (`intelligent`) or by a
/// separator with a size and an overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChunkSetting {
    /// `separator` or `intelligent`.
    pub rule_type: &'static str,
    /// `paragraph` or `title` (with `separator`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separate_type: Option<SeparateType>,
    /// The chunk size, 200–1000 (with `separator`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// The overlap, 0–200 and at most `size` (with `separator`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap: Option<u32>,
}

/// Where a `separator` chunking cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SeparateType {
    /// At paragraphs.
    Paragraph,
    /// At titles.
    Title,
}

impl ChunkSetting {
    /// Chunks the platform chooses.
    pub fn intelligent() -> ChunkSetting {
        ChunkSetting {
            rule_type: "intelligent",
            separate_type: None,
            size: None,
            overlap: None,
        }
    }

    /// Chunks cut at `separate_type`, of `size` (200–1000) overlapping by `overlap`
    /// (0–200, at most `size`).
    ///
    /// ```
    /// use aily_client::data_assets::{ChunkSetting, SeparateType};
    /// assert!(ChunkSetting::separator(SeparateType::Paragraph, 500, 50).is_ok());
    /// assert!(ChunkSetting::separator(SeparateType::Title, 100, 0).is_err());
    /// assert!(ChunkSetting::separator(SeparateType::Title, 500, 201).is_err());
    /// ```
    pub fn separator(
        separate_type: SeparateType,
        size: u32,
        overlap: u32,
    ) -> Result<ChunkSetting, Error> {
        if !(200..=1000).contains(&size) {
            return Err(Error::invalid_input(
                "invalid chunk_setting.size: must be 200 to 1000",
            ));
        }
        if overlap > 200 || overlap > size {
            return Err(Error::invalid_input(
                "invalid chunk_setting.overlap: must be 0 to 200 and at most size",
            ));
        }
        Ok(ChunkSetting {
            rule_type: "separator",
            separate_type: Some(separate_type),
            size: Some(size),
            overlap: Some(overlap),
        })
    }
}

impl Endpoint for CreateDataAsset {
    type Response = DataAssetResponse;
    type Body = DataAssetBody;
    /// No idempotency key: a blind retry could create a second asset.
    const IDEMPOTENT: bool = false;
    const ERROR_CODES: &'static [(i64, &'static str)] = &[
        (2700001, "param is invalid"),
        (
            2701004,
            "permission denied: needs the developer or operator role",
        ),
        (
            2700026,
            "data assets are created in the dev environment only",
        ),
        (2700027, "only one file is allowed"),
        (2700028, "invalid chunk setting"),
        (2700029, "data source invalid"),
        (2700030, "data source not found"),
        (2700031, "cloud-doc permission check failed"),
        (2700032, "unsupported connect type"),
        (2700033, "unsupported source type"),
        (2700034, "unsupported file type"),
        (
            2700036,
            "cloud-doc resources need a user identity (a user access token)",
        ),
        (2700460, "failed to get the doc's metadata"),
        (2700472, "param missing or invalid"),
    ];
}

/// `POST /open-apis/aily/v1/apps/:app_id/data_assets?tenant_type=dev`: creates a data
/// asset from one source (only its sub-object is sent). Ingestion is asynchronous:
/// poll [`GetDataAssetRequest`](crate::data_assets::GetDataAssetRequest) with
/// `with_connect_status(true)`. Not retried after it may have reached the server
/// unless the caller opts in ([`with_idempotent(true)`](crate::AilyRequest::with_idempotent)).
///
/// ```
/// use aily_client::data_assets::{
///     ChunkSetting, CreateDataAssetRequest, DataAssetSource, FileSource, FileType,
/// };
///
/// let file = FileSource::uploaded("Handbook", "boxcn_1", FileType::Pdf)?;
/// let req = CreateDataAssetRequest::new("spring_1__c", DataAssetSource::File(file))?
///     .chunk_setting(ChunkSetting::intelligent())
///     .description("en_us", "The staff handbook")?;
/// assert_eq!(req.query().as_str(), "tenant_type=dev");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type CreateDataAssetRequest = ApiRequest<CreateDataAsset>;

impl CreateDataAssetRequest {
    /// A data asset of app `app_id` (at most 255 characters) from `source`.
    pub fn new(app_id: impl AsRef<str>, source: DataAssetSource) -> Result<Self, Error> {
        let body = DataAssetBody {
            connect_type: source.connect_type(),
            source_type: source.source_type(),
            import_knowledge_setting: ImportKnowledgeSetting {
                chunk_setting: None,
                source,
            },
            description: LocaleText::new(),
        };
        Ok(app_request(app_id.as_ref(), &[])?
            .with_query("tenant_type", TenantType::Dev.as_str())
            .with_body(body))
    }

    /// Sets how the import is cut into chunks.
    pub fn chunk_setting(mut self, setting: ChunkSetting) -> Self {
        if let Some(body) = self.body_mut() {
            body.import_knowledge_setting.chunk_setting = Some(setting);
        }
        self
    }

    /// Adds the description in `locale` (e.g. `zh_cn`, `en_us`): at most 255
    /// characters each (this crate's bound; the platform documents none).
    pub fn description(
        mut self,
        locale: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Self, Error> {
        let (locale, text) = (locale.into(), text.into());
        validate_id("description locale", &locale)?;
        check_text("description", &text, 255)?;
        if let Some(body) = self.body_mut() {
            body.description.insert(locale, text);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(req: &CreateDataAssetRequest) -> serde_json::Value {
        serde_json::from_slice(&<CreateDataAsset as Endpoint>::encode_body(
            req.body().unwrap(),
        ))
        .unwrap()
    }

    #[test]
    fn only_the_sources_sub_object_is_sent() {
        let wiki = LarkWikiSpaceSource::new("space_1")
            .unwrap()
            .sub_doc("wik_1", None)
            .unwrap();
        let req = CreateDataAssetRequest::new("spring_1__c", DataAssetSource::LarkWikiSpace(wiki))
            .unwrap();
        assert_eq!(
            body_of(&req),
            serde_json::json!({
                "connect_type": "direct",
                "source_type": "lark_wiki_space",
                "import_knowledge_setting": {"lark_wiki_space": {
                    "space_id": "space_1", "sub_docs": [{"type": "wiki", "token": "wik_1"}]
                }}
            })
        );
        let file = FileSource::content("T", "hello", FileType::Txt).unwrap();
        let req = CreateDataAssetRequest::new("spring_1__c", DataAssetSource::File(file))
            .unwrap()
            .chunk_setting(ChunkSetting::separator(SeparateType::Title, 200, 0).unwrap())
            .description("zh_cn", "说明")
            .unwrap();
        assert_eq!(
            body_of(&req),
            serde_json::json!({
                "connect_type": "import",
                "source_type": "file",
                "import_knowledge_setting": {
                    "chunk_setting": {"rule_type": "separator", "separate_type": "title", "size": 200, "overlap": 0},
                    "file": {"title": "T", "content": "hello", "mime_type": "text/plain"}
                },
                "description": {"zh_cn": "说明"}
            })
        );
    }

    #[test]
    fn limits_are_checked() {
        assert!(FileSource::content("t".repeat(256), "x", FileType::Txt).is_err());
        assert!(
            FileSource::content("t", "x".repeat(MAX_FILE_CONTENT_CHARS + 1), FileType::Txt)
                .is_err()
        );
        assert!(
            LarkDocSource::new(LarkDocType::Docx, "d")
                .unwrap()
                .with_sub_docs(true)
                .is_err()
        );
        assert!(
            LarkDocSource::new(LarkDocType::Wiki, "d")
                .unwrap()
                .with_sub_docs(true)
                .is_ok()
        );
        assert!(LarkHelpdeskSource::new("").is_err());
        let source = || DataAssetSource::LarkHelpdesk(LarkHelpdeskSource::new("h").unwrap());
        assert!(CreateDataAssetRequest::new("a".repeat(256), source()).is_err());
        assert!(
            CreateDataAssetRequest::new("spring_1__c", source())
                .unwrap()
                .description("zh_cn", "d".repeat(256))
                .is_err()
        );
    }
}
