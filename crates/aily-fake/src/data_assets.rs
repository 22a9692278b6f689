//! Data assets of the Aily apps: assets, tags and uploaded files, and the create /
//! get / delete / list / tag list / upload file endpoints
//! (`apps/{app_id}/data_assets…`, `apps/{app_id}/data_asset_tags`).

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::FakeAily;
use super::Route;
use super::conv::Call;
use super::form;
use super::page;
use super::reply::{ParamError, Refusal};
use super::util;

/// The largest file upload accepts: 50 MB (MiB, as the clients count it).
const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;
/// The most items a list page holds, whatever the fake-wide maximum.
const MAX_ASSET_PAGE_SIZE: usize = 100;

const DEV_ONLY: Refusal = Refusal::Code {
    status: 400,
    code: 2700026,
    msg: "only support dev tenant_type",
};
const NOT_FOUND: Refusal = Refusal::Code {
    status: 404,
    code: 2700404,
    msg: "data asset not found",
};

/// The four file types: extension and MIME type.
const FILE_TYPES: [(&str, &str); 4] = [
    ("txt", "text/plain"),
    ("pdf", "application/pdf"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
];

#[derive(Debug, Clone)]
struct AssetRecord {
    id: String,
    label: Map<String, Value>,
    description: Map<String, Value>,
    data_source_type: String,
    connect_type: String,
    connect_status: String,
    connect_failed_reason: Option<String>,
    tags: Vec<String>,
    created_ms: u64,
    updated_ms: u64,
}

#[derive(Debug, Default)]
struct AppAssets {
    assets: Vec<AssetRecord>,
    /// `(data_asset_tag_id, name)`, in the order added.
    tags: Vec<(String, String)>,
}

/// Every app's assets and tags, and every uploaded file.
#[derive(Debug, Default)]
pub(crate) struct Assets {
    apps: HashMap<String, AppAssets>,
    /// Upload token → (bytes, MIME type).
    uploads: HashMap<String, (Bytes, &'static str)>,
}

impl Assets {
    /// Serves one data-asset call.
    pub(crate) fn handle(&mut self, call: &Call, max_page_size: usize) -> Result<Value, Refusal> {
        let max = max_page_size.min(MAX_ASSET_PAGE_SIZE);
        match call.route {
            Some(Route::CreateDataAsset) => self.create(call),
            Some(Route::GetDataAsset) => {
                call_tenant_type(call)?;
                let (with_items, with_status) = flags(call)?;
                let asset = self.asset(call)?;
                let tags = &self.apps.get(&call.app).ok_or(NOT_FOUND)?.tags;
                Ok(json!({"data_asset": render_with(asset, tags, with_items, with_status)}))
            }
            Some(Route::DeleteDataAsset) => {
                dev_only(call)?;
                let id = self.asset(call)?.id.clone();
                let app = self.apps.entry(call.app.clone()).or_default();
                let position = app.assets.iter().position(|a| a.id == id);
                let asset = position.map(|at| app.assets.remove(at)).ok_or(NOT_FOUND)?;
                Ok(json!({"data_asset": render_with(&asset, &app.tags, true, true)}))
            }
            Some(Route::ListDataAssets) => self.list(call, max),
            Some(Route::ListDataAssetTags) => {
                let keyword = keyword(call)?;
                let ids = call.query_all("data_asset_tag_ids");
                let items = self
                    .apps
                    .get(&call.app)
                    .map(|app| {
                        app.tags
                            .iter()
                            .filter(|(id, name)| {
                                (ids.is_empty() || ids.contains(&id.as_str()))
                                    && keyword
                                        .as_ref()
                                        .is_none_or(|k| name.to_lowercase().contains(k))
                            })
                            .map(|(id, name)| json!({"data_asset_tag_id": id, "name": name}))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(page::render(call, max, "items", items)?)
            }
            _ => self.upload(call),
        }
    }

    fn asset(&self, call: &Call) -> Result<&AssetRecord, Refusal> {
        let id = call.item.as_deref().unwrap_or_default();
        self.apps
            .get(&call.app)
            .and_then(|app| app.assets.iter().find(|a| a.id == id))
            .ok_or(NOT_FOUND)
    }

    fn list(&self, call: &Call, max: usize) -> Result<Value, Refusal> {
        let keyword = keyword(call)?;
        let ids = call.query_all("data_asset_ids");
        let tag_ids = call.query_all("data_asset_tag_ids");
        let (with_items, with_status) = flags(call)?;
        let mut items = Vec::new();
        if let Some(app) = self.apps.get(&call.app) {
            for asset in &app.assets {
                let named = keyword.as_ref().is_none_or(|k| {
                    asset
                        .label
                        .values()
                        .filter_map(Value::as_str)
                        .any(|label| label.to_lowercase().contains(k))
                });
                let listed = ids.is_empty() || ids.contains(&asset.id.as_str());
                let tagged =
                    tag_ids.is_empty() || asset.tags.iter().any(|t| tag_ids.contains(&t.as_str()));
                if named && listed && tagged {
                    items.push(render_with(asset, &app.tags, with_items, with_status));
                }
            }
        }
        Ok(page::render(call, max, "items", items)?)
    }

    /// `POST …/data_assets`: the platform's checks in order, then an asset
    /// `awaiting` ingestion.
    fn create(&mut self, call: &Call) -> Result<Value, Refusal> {
        dev_only(call)?;
        let connect_type = call.required_str("connect_type", 64)?;
        let source_type = call.required_str("source_type", 64)?;
        let expected = match source_type {
            "file" | "lark_doc" => "import",
            "lark_wiki_space" | "lark_helpdesk" => "direct",
            _ => return Err(Refusal::code(2700033, "unsupported source type")),
        };
        if connect_type != expected {
            return Err(Refusal::code(2700032, "unsupported connect type"));
        }
        let setting = match call.body.get("import_knowledge_setting") {
            Some(Value::Object(setting)) => setting,
            _ => return Err(Refusal::code(2700029, "data source invalid")),
        };
        if let Some(chunk) = setting.get("chunk_setting") {
            chunk_setting(chunk)?;
        }
        let Some(Value::Object(source)) = setting.get(source_type) else {
            return Err(Refusal::code(2700029, "data source invalid"));
        };
        let field = |key: &str| {
            source
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (label, data_source_type) = match source_type {
            "file" => {
                let mime = field("mime_type").unwrap_or_default();
                let Some((extension, _)) = FILE_TYPES.iter().find(|(_, m)| *m == mime) else {
                    return Err(Refusal::code(2700034, "unsupported file type"));
                };
                match field("token") {
                    Some(token) if !self.uploads.contains_key(token) => {
                        return Err(Refusal::code(2700030, "data source not found"));
                    }
                    Some(_) => {}
                    None if field("content").is_none() => {
                        return Err(Refusal::code(2700029, "data source invalid"));
                    }
                    None => {}
                }
                (
                    field("title").unwrap_or("untitled"),
                    (*extension).to_owned(),
                )
            }
            "lark_doc" | "lark_wiki_space" if !call.user_token => {
                return Err(Refusal::code(
                    2700036,
                    "cloud document resources need user identity",
                ));
            }
            "lark_doc" => {
                let (Some(kind), Some(token)) = (field("type"), field("token")) else {
                    return Err(Refusal::code(2700029, "data source invalid"));
                };
                (token, format!("larkbiz_{kind}"))
            }
            "lark_wiki_space" => {
                let space =
                    field("space_id").ok_or(Refusal::code(2700029, "data source invalid"))?;
                (space, "larkbiz_wiki".to_owned())
            }
            _ => {
                let helpdesk =
                    field("helpdesk_id").ok_or(Refusal::code(2700029, "data source invalid"))?;
                (helpdesk, "servicedesk".to_owned())
            }
        };
        let description = match call.body.get("description") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) if map.values().all(Value::is_string) => map.clone(),
            Some(_) => return Err(ParamError::hidden("description", "must be a locale map").into()),
        };
        let now = util::wall_millis();
        let asset = AssetRecord {
            id: util::base32_id("asset_", 13),
            label: Map::from_iter([("zh_cn".to_owned(), Value::from(label))]),
            description,
            data_source_type,
            connect_type: connect_type.to_owned(),
            connect_status: "awaiting".to_owned(),
            connect_failed_reason: None,
            tags: Vec::new(),
            created_ms: now,
            updated_ms: now,
        };
        let app = self.apps.entry(call.app.clone()).or_default();
        let data = json!({"data_asset": render_with(&asset, &app.tags, false, true)});
        app.assets.push(asset);
        Ok(data)
    }

    /// `POST …/data_assets/upload_file`: one part `file`, at most 50 MB, of the
    /// four types; the bytes are kept under a new token.
    fn upload(&mut self, call: &Call) -> Result<Value, Refusal> {
        dev_only(call)?;
        let invalid = |why| Refusal::from(ParamError::hidden("file", why));
        let boundary = call
            .content_type
            .as_deref()
            .and_then(form::boundary)
            .ok_or_else(|| invalid("not a multipart/form-data body"))?;
        let parts = form::parse(&call.raw_body, boundary)
            .ok_or_else(|| invalid("malformed multipart/form-data body"))?;
        if let Some(other) = parts.iter().find(|p| p.name != "file") {
            return Err(ParamError::new("file", &other.name, "unexpected form field").into());
        }
        let file = match parts.as_slice() {
            [file] => file,
            [] => return Err(Refusal::code(2700472, "param missing or invalid: file")),
            _ => return Err(Refusal::code(2700027, "only one file is allowed")),
        };
        if file.content.len() > MAX_UPLOAD_BYTES {
            return Err(Refusal::code(2700035, "file size exceeds 50MB"));
        }
        let name = file.file_name.as_deref().unwrap_or_default();
        let mime = name
            .rsplit_once('.')
            .and_then(|(_, ext)| FILE_TYPES.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)))
            .map(|(_, mime)| *mime)
            .ok_or(Refusal::code(2700034, "unsupported file type"))?;
        let token = util::base32_id("boxcn", 22);
        self.uploads
            .insert(token.clone(), (file.content.clone(), mime));
        Ok(json!({"file_info": {"token": token, "mime_type": mime}}))
    }
}

/// `tenant_type` must be `dev` (create, delete, upload).
fn dev_only(call: &Call) -> Result<(), Refusal> {
    match call.query("tenant_type") {
        Some("dev") => Ok(()),
        _ => Err(DEV_ONLY),
    }
}

/// `tenant_type`, when sent, is `online` or `dev` (get).
fn call_tenant_type(call: &Call) -> Result<(), ParamError> {
    match call.query("tenant_type") {
        None | Some("online" | "dev") => Ok(()),
        Some(other) => Err(ParamError::new(
            "tenant_type",
            other,
            "must be online or dev",
        )),
    }
}

/// `keyword`, lower-cased, at most 255 characters.
fn keyword(call: &Call) -> Result<Option<String>, ParamError> {
    match call.query("keyword").filter(|k| !k.is_empty()) {
        Some(k) if k.chars().count() > 255 => Err(ParamError::hidden("keyword", "too long")),
        k => Ok(k.map(str::to_lowercase)),
    }
}

/// `with_data_asset_item`, `with_connect_status`.
fn flags(call: &Call) -> Result<(bool, bool), ParamError> {
    Ok((
        page::query_bool(call, "with_data_asset_item")?,
        page::query_bool(call, "with_connect_status")?,
    ))
}

/// `chunk_setting`: `rule_type` `separator` (with `separate_type`, `size` 200–1000
/// and `overlap` 0–200, at most `size`) or `intelligent`; else 2700028.
fn chunk_setting(chunk: &Value) -> Result<(), Refusal> {
    let invalid = Refusal::code(2700028, "invalid chunk setting");
    let number = |key| chunk.get(key).and_then(Value::as_u64);
    match chunk.get("rule_type").and_then(Value::as_str) {
        Some("intelligent") => Ok(()),
        Some("separator") => {
            let kind = chunk.get("separate_type").and_then(Value::as_str);
            match (kind, number("size"), number("overlap")) {
                (Some("paragraph" | "title"), Some(size @ 200..=1000), Some(overlap))
                    if overlap <= 200 && overlap <= size =>
                {
                    Ok(())
                }
                _ => Err(invalid),
            }
        }
        _ => Err(invalid),
    }
}

/// `DataAsset` as the platform sends it: items and ingestion status only when
/// asked for; tags with their names.
fn render_with(
    asset: &AssetRecord,
    tags: &[(String, String)],
    with_items: bool,
    with_status: bool,
) -> Value {
    let mut data = Map::new();
    data.insert("data_asset_id".into(), asset.id.as_str().into());
    data.insert("label".into(), Value::Object(asset.label.clone()));
    data.insert(
        "description".into(),
        Value::Object(asset.description.clone()),
    );
    data.insert(
        "data_source_type".into(),
        asset.data_source_type.as_str().into(),
    );
    data.insert("connect_type".into(), asset.connect_type.as_str().into());
    let tags: Vec<Value> = asset
        .tags
        .iter()
        .map(|id| {
            let name = tags
                .iter()
                .find(|(t, _)| t == id)
                .map_or("", |(_, n)| n.as_str());
            json!({"data_asset_tag_id": id, "name": name})
        })
        .collect();
    data.insert("tags".into(), Value::Array(tags));
    if with_status {
        data.insert(
            "connect_status".into(),
            asset.connect_status.as_str().into(),
        );
        if let Some(reason) = &asset.connect_failed_reason {
            data.insert("connect_failed_reason".into(), reason.as_str().into());
        }
    }
    if with_items {
        data.insert(
            "items".into(),
            json!([{
                "data_asset_item_id": format!("{}_item_1", asset.id),
                "api_name": "item_1",
                "label": asset.label,
                "description": asset.description,
                "resources": [{"resource_id": format!("{}_vector", asset.id), "resource_type": "vector"}],
            }]),
        );
    }
    data.insert("created_time".into(), asset.created_ms.to_string().into());
    data.insert("updated_time".into(), asset.updated_ms.to_string().into());
    Value::Object(data)
}

impl FakeAily {
    /// Adds (or replaces) data asset `data_asset_id` (label `{"zh_cn": label}`,
    /// a `txt` import, `successful`) to Aily app `app_id`.
    ///
    /// The data-asset routes serve it with the platform's semantics: create,
    /// delete and upload need `tenant_type=dev` (else 2700026); get and delete of
    /// an unknown asset answer HTTP 404 / 2700404; lists are pages of at most 100
    /// (`page_size`, `page_token`), filtered by `keyword` (case-insensitive, in
    /// any label), `data_asset_ids` and `data_asset_tag_ids` (repeated keys; an
    /// asset matches any of its tags); `with_data_asset_item` and
    /// `with_connect_status` add `items` and `connect_status`. Create checks, in
    /// order: `source_type` (2700033), its `connect_type` (2700032), the chunk
    /// setting (2700028), the source's sub-object (2700029), a user token for a
    /// cloud doc or wiki (2700036), the file's `mime_type` (2700034) and upload
    /// token (2700030); the new asset is `awaiting`. Upload reads the real
    /// multipart body: exactly one part, named `file` (none: 2700472, more:
    /// 2700027), at most 50 MiB (2700035), a `.docx`, `.txt`, `.pdf` or `.pptx`
    /// name (2700034); its bytes are kept ([`uploaded_file`](FakeAily::uploaded_file)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_data_asset_tag("spring_1__c", "spring_1__c__asset_tag_1", "Manuals");
    /// fake.add_data_asset("spring_1__c", "asset_1", "Handbook");
    /// fake.tag_data_asset("spring_1__c", "asset_1", "spring_1__c__asset_tag_1");
    /// assert_eq!(fake.data_asset_ids("spring_1__c"), ["asset_1"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_data_asset(&self, app_id: &str, data_asset_id: &str, label: &str) {
        let now = util::wall_millis();
        let asset = AssetRecord {
            id: data_asset_id.to_owned(),
            label: Map::from_iter([("zh_cn".to_owned(), Value::from(label))]),
            description: Map::new(),
            data_source_type: "txt".to_owned(),
            connect_type: "import".to_owned(),
            connect_status: "successful".to_owned(),
            connect_failed_reason: None,
            tags: Vec::new(),
            created_ms: now,
            updated_ms: now,
        };
        let mut state = self.shared.lock();
        let app = state.assets.apps.entry(app_id.to_owned()).or_default();
        match app.assets.iter_mut().find(|a| a.id == data_asset_id) {
            Some(existing) => *existing = asset,
            None => app.assets.push(asset),
        }
    }

    /// Adds (or renames) tag `data_asset_tag_id` of app `app_id`.
    pub fn add_data_asset_tag(&self, app_id: &str, data_asset_tag_id: &str, name: &str) {
        let mut state = self.shared.lock();
        let app = state.assets.apps.entry(app_id.to_owned()).or_default();
        match app.tags.iter_mut().find(|(id, _)| id == data_asset_tag_id) {
            Some(existing) => existing.1 = name.to_owned(),
            None => app
                .tags
                .push((data_asset_tag_id.to_owned(), name.to_owned())),
        }
    }

    /// Gives asset `data_asset_id` of app `app_id` the tag `data_asset_tag_id`.
    pub fn tag_data_asset(&self, app_id: &str, data_asset_id: &str, data_asset_tag_id: &str) {
        self.with_asset(app_id, data_asset_id, |asset| {
            if !asset.tags.iter().any(|t| t == data_asset_tag_id) {
                asset.tags.push(data_asset_tag_id.to_owned());
            }
        });
    }

    /// Sets the ingestion status of asset `data_asset_id` (e.g. `syncing`,
    /// `successful`, `failed` with a reason), as the platform moves it.
    pub fn set_data_asset_connect_status(
        &self,
        app_id: &str,
        data_asset_id: &str,
        status: &str,
        failed_reason: Option<&str>,
    ) {
        self.with_asset(app_id, data_asset_id, |asset| {
            asset.connect_status = status.to_owned();
            asset.connect_failed_reason = failed_reason.map(str::to_owned);
            asset.updated_ms = util::wall_millis().max(asset.updated_ms);
        });
    }

    /// The ids of app `app_id`'s data assets, in the order added or created.
    pub fn data_asset_ids(&self, app_id: &str) -> Vec<String> {
        let state = self.shared.lock();
        state
            .assets
            .apps
            .get(app_id)
            .map(|app| app.assets.iter().map(|a| a.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The bytes uploaded under `token` (the `file_info.token` of an upload).
    pub fn uploaded_file(&self, token: &str) -> Option<Vec<u8>> {
        let state = self.shared.lock();
        state
            .assets
            .uploads
            .get(token)
            .map(|(bytes, _)| bytes.to_vec())
    }

    /// How many files were uploaded (replies lost or not).
    pub fn uploaded_file_count(&self) -> usize {
        self.shared.lock().assets.uploads.len()
    }

    fn with_asset(&self, app_id: &str, data_asset_id: &str, change: impl FnOnce(&mut AssetRecord)) {
        let mut state = self.shared.lock();
        if let Some(asset) = state
            .assets
            .apps
            .get_mut(app_id)
            .and_then(|app| app.assets.iter_mut().find(|a| a.id == data_asset_id))
        {
            change(asset);
        }
    }
}
