//! The data-asset endpoints over real TCP to `FakeAily`: a real multipart upload
//! whose bytes the fake checks, create from its token, get, delete; lists followed
//! page by page with repeated query keys; each endpoint's error meanings; inputs
//! refused before sending; and the retry class of each (upload and create are never
//! re-sent after a lost reply unless the caller opts in; reads are).
#![cfg(feature = "testing")]

use std::path::PathBuf;

use aily_client::data_assets::{
    ConnectStatus, CreateDataAssetRequest, DataAssetSource, FileSource, FileType,
    GetDataAssetRequest, LarkDocSource, LarkDocType, ListDataAssetTagsRequest,
    ListDataAssetsRequest, UploadFileRequest,
};
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{AilyRequest, Client, ErrorKind};
use futures_util::StreamExt;

use crate::support::{self, bounded};

const TOKEN: &str = "t-data-assets";
const APP: &str = "spring_assets__c";

async fn setup() -> (FakeAily, Client) {
    let fake = support::fake_for(TOKEN).await;
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    (fake, client)
}

/// A fresh file `name` in its own temporary folder, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let dir = std::env::temp_dir().join(format!(
            "aily-assets-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join(name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn upload() -> UploadFileRequest {
    UploadFileRequest::from_bytes(APP, "notes.txt", "hello").unwrap()
}

#[tokio::test]
async fn upload_create_get_and_delete_an_asset() {
    bounded(async {
        let (fake, client) = setup().await;
        let file = TempFile::new("Handbook.pdf");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file.0, &content).unwrap();

        let request = UploadFileRequest::from_path(APP, &file.0).unwrap();
        let info = client
            .upload_data_asset_file(request)
            .await
            .unwrap()
            .into_data()
            .file_info;
        assert_eq!(info.mime_type, "application/pdf");
        assert_eq!(
            fake.uploaded_file(&info.token),
            Some(content),
            "the very bytes"
        );
        let sent = fake.requests().pop().unwrap();
        assert_eq!(
            sent.path,
            format!("/open-apis/aily/v1/apps/{APP}/data_assets/upload_file?tenant_type=dev")
        );
        assert!(
            sent.header("content-type")
                .unwrap()
                .starts_with("multipart/form-data; boundary=")
        );

        let source = FileSource::uploaded("Handbook", &info.token, FileType::Pdf).unwrap();
        let create = CreateDataAssetRequest::new(APP, DataAssetSource::File(source))
            .unwrap()
            .description("en_us", "The staff handbook")
            .unwrap();
        let created = client
            .create_data_asset(create)
            .await
            .unwrap()
            .into_data()
            .data_asset;
        assert!(created.data_asset_id.starts_with("asset_"), "{created:?}");
        assert_eq!(created.label["zh_cn"], "Handbook");
        assert_eq!(created.description["en_us"], "The staff handbook");
        assert_eq!(created.connect_status, ConnectStatus::Awaiting);
        let id = created.data_asset_id.clone();
        assert_eq!(fake.data_asset_ids(APP), std::slice::from_ref(&id));

        fake.set_data_asset_connect_status(APP, &id, "successful", None);
        let get = GetDataAssetRequest::new(APP, &id)
            .unwrap()
            .with_connect_status(true)
            .with_data_asset_item(true);
        let asset = client
            .get_data_asset(get)
            .await
            .unwrap()
            .into_data()
            .data_asset;
        assert!(asset.connect_status.is_settled());
        assert_eq!(asset.items.len(), 1);
        assert!(asset.created_time.unwrap().millis().is_some());

        let deleted = client
            .delete_data_asset(APP, &id)
            .await
            .unwrap()
            .into_data();
        assert_eq!(
            deleted.data_asset.data_asset_id, id,
            "the deleted asset, not {{}}"
        );
        assert!(fake.data_asset_ids(APP).is_empty());
        let err = client
            .get_data_asset(GetDataAssetRequest::new(APP, &id).unwrap())
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700404)));
        assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
        assert!(err.to_string().contains("data asset not found"), "{err}");
        let err = client.delete_data_asset(APP, &id).await.unwrap_err();
        assert_eq!(err.code(), Some(2700404));
    })
    .await;
}

#[tokio::test]
async fn a_file_too_big_or_of_another_type_is_refused_with_nothing_sent() {
    bounded(async {
        let (fake, client) = setup().await;
        // 51 MiB, sparse: its size comes from the metadata, it is never read.
        let big = TempFile::new("big.pdf");
        std::fs::File::create(&big.0)
            .unwrap()
            .set_len(51 * 1024 * 1024)
            .unwrap();
        let err = UploadFileRequest::from_path(APP, &big.0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("50 MiB"), "{err}");

        let exe = TempFile::new("setup.exe");
        std::fs::write(&exe.0, b"MZ").unwrap();
        let err = UploadFileRequest::from_path(APP, &exe.0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("setup.exe"), "{err}");
        let err = UploadFileRequest::from_bytes(APP, "setup.exe", "MZ").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = UploadFileRequest::from_bytes("", "a.txt", "x").unwrap_err();
        assert!(err.to_string().contains("app_id"), "{err}");
        drop(client);
        assert_eq!(fake.request_count(Route::Any), 0);
    })
    .await;
}

#[tokio::test]
async fn a_lost_upload_reply_is_sent_once_unless_the_caller_opts_in() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.push_fault(
            Route::UploadDataAssetFile,
            Fault::ResetAfterHandling,
            Times::Once,
        );
        let err = client.upload_data_asset_file(upload()).await.unwrap_err();
        assert!(err.may_have_acted(), "{err}");
        assert_eq!(fake.request_count(Route::UploadDataAssetFile), 1);
        assert_eq!(fake.uploaded_file_count(), 1, "the server kept the file");

        fake.push_fault(
            Route::UploadDataAssetFile,
            Fault::ResetAfterHandling,
            Times::Once,
        );
        let reply = client
            .upload_data_asset_file(upload().with_idempotent(true))
            .await
            .unwrap();
        assert_eq!(
            fake.uploaded_file(&reply.file_info.token).unwrap(),
            b"hello"
        );
        assert_eq!(fake.request_count(Route::UploadDataAssetFile), 3);
        assert_eq!(fake.uploaded_file_count(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_lost_create_reply_is_sent_once() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.push_fault(
            Route::CreateDataAsset,
            Fault::ResetAfterHandling,
            Times::Once,
        );
        let source = FileSource::content("Notes", "hello", FileType::Txt).unwrap();
        let create = CreateDataAssetRequest::new(APP, DataAssetSource::File(source)).unwrap();
        let err = client.create_data_asset(create).await.unwrap_err();
        assert!(err.may_have_acted(), "{err}");
        assert_eq!(fake.request_count(Route::CreateDataAsset), 1);
        assert_eq!(fake.data_asset_ids(APP).len(), 1, "it does exist");
    })
    .await;
}

#[tokio::test]
async fn reads_are_retried_after_a_lost_reply() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.add_data_asset(APP, "asset_1", "Handbook");
        fake.push_fault(Route::GetDataAsset, Fault::ResetAfterHandling, Times::Once);
        fake.push_fault(
            Route::ListDataAssets,
            Fault::ResetAfterHandling,
            Times::Once,
        );
        fake.push_fault(Route::ListDataAssetTags, Fault::Status(503), Times::Once);
        let got = client
            .get_data_asset(GetDataAssetRequest::new(APP, "asset_1").unwrap())
            .await
            .unwrap();
        assert_eq!(got.data_asset.data_asset_id, "asset_1");
        let page = client
            .list_data_assets(ListDataAssetsRequest::new(APP).unwrap())
            .await
            .unwrap();
        assert_eq!(page.page.items.len(), 1);
        client
            .list_data_asset_tags(ListDataAssetTagsRequest::new(APP).unwrap())
            .await
            .unwrap();
        for route in [
            Route::GetDataAsset,
            Route::ListDataAssets,
            Route::ListDataAssetTags,
        ] {
            assert_eq!(fake.request_count(route), 2, "{route:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn lists_follow_every_page_with_repeated_query_keys() {
    bounded(async {
        let (fake, client) = setup().await;
        for (tag, name) in [
            ("tag_a", "Manuals"),
            ("tag_b", "Policies"),
            ("tag_c", "Misc"),
        ] {
            fake.add_data_asset_tag(APP, tag, name);
        }
        for i in 0..5 {
            let id = format!("asset_{i}");
            fake.add_data_asset(APP, &id, &format!("Doc {i}"));
            fake.tag_data_asset(APP, &id, if i % 2 == 0 { "tag_a" } else { "tag_b" });
        }
        let first = client
            .list_data_assets(
                ListDataAssetsRequest::new(APP)
                    .unwrap()
                    .page_size(2)
                    .unwrap(),
            )
            .await
            .unwrap()
            .into_data()
            .page;
        assert_eq!(first.items.len(), 2);
        assert!(first.next_page_token().is_some());

        let all: Vec<String> = client
            .data_assets_stream(
                ListDataAssetsRequest::new(APP)
                    .unwrap()
                    .page_size(2)
                    .unwrap(),
            )
            .map(|asset| asset.unwrap().data_asset_id)
            .collect()
            .await;
        assert_eq!(all, ["asset_0", "asset_1", "asset_2", "asset_3", "asset_4"]);
        assert_eq!(fake.request_count(Route::ListDataAssets), 1 + 3);

        let filtered = ListDataAssetsRequest::new(APP)
            .unwrap()
            .data_asset_ids(["asset_0", "asset_1", "asset_3"])
            .unwrap()
            .data_asset_tag_ids(["tag_b"])
            .unwrap()
            .keyword("doc")
            .unwrap()
            .with_connect_status(true);
        let picked: Vec<_> = client.data_assets_stream(filtered).collect().await;
        let picked: Vec<_> = picked.into_iter().map(|a| a.unwrap()).collect();
        let ids: Vec<&str> = picked.iter().map(|a| a.data_asset_id.as_str()).collect();
        assert_eq!(ids, ["asset_1", "asset_3"]);
        assert_eq!(picked[0].tags[0].name, "Policies");
        assert_eq!(picked[0].connect_status, ConnectStatus::Successful);
        let sent = fake.requests().pop().unwrap();
        assert!(
            sent.path
                .contains("data_asset_ids=asset_0&data_asset_ids=asset_1&data_asset_ids=asset_3"),
            "{}",
            sent.path
        );
        assert!(
            sent.path.contains("data_asset_tag_ids=tag_b"),
            "{}",
            sent.path
        );

        let tags: Vec<_> = client
            .data_asset_tags_stream(
                ListDataAssetTagsRequest::new(APP)
                    .unwrap()
                    .page_size(1)
                    .unwrap(),
            )
            .map(|tag| tag.unwrap().name)
            .collect()
            .await;
        assert_eq!(tags, ["Manuals", "Policies", "Misc"]);
        let some: Vec<_> = client
            .data_asset_tags_stream(
                ListDataAssetTagsRequest::new(APP)
                    .unwrap()
                    .data_asset_tag_ids(["tag_a", "tag_c"])
                    .unwrap(),
            )
            .map(|tag| tag.unwrap().data_asset_tag_id)
            .collect()
            .await;
        assert_eq!(some, ["tag_a", "tag_c"]);
    })
    .await;
}

#[tokio::test]
async fn a_list_that_repeats_its_page_token_ends_with_an_error() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.add_data_asset(APP, "asset_1", "Handbook");
        fake.push_fault(Route::ListDataAssets, Fault::RepeatPageToken, Times::Always);
        let items: Vec<_> = client
            .data_assets_stream(ListDataAssetsRequest::new(APP).unwrap())
            .collect()
            .await;
        let err = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    })
    .await;
}

#[tokio::test]
async fn error_codes_say_what_they_mean_on_each_endpoint() {
    bounded(async {
        let (fake, client) = setup().await;
        // Produced by the fake's own checks.
        let online = upload().with_query("tenant_type", "online");
        let err = client.upload_data_asset_file(online).await.unwrap_err();
        assert_eq!(err.code(), Some(2700026));
        assert!(err.to_string().contains("dev environment only"), "{err}");

        let unknown = FileSource::uploaded("Gone", "boxcn_unknown", FileType::Docx).unwrap();
        let create = CreateDataAssetRequest::new(APP, DataAssetSource::File(unknown)).unwrap();
        let err = client.create_data_asset(create).await.unwrap_err();
        assert_eq!(err.code(), Some(2700030));
        assert!(err.to_string().contains("data source not found"), "{err}");

        let doc = LarkDocSource::new(LarkDocType::Docx, "doxcn_1").unwrap();
        let create = CreateDataAssetRequest::new(APP, DataAssetSource::LarkDoc(doc)).unwrap();
        let err = client.create_data_asset(create).await.unwrap_err();
        assert_eq!(err.code(), Some(2700036));
        assert!(err.to_string().contains("user identity"), "{err}");

        fake.add_data_asset(APP, "asset_1", "Handbook");
        let err = client
            .call(
                aily_client::data_assets::DeleteDataAssetRequest::new(APP, "asset_1")
                    .unwrap()
                    .with_query("tenant_type", "online"),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("deleted in the dev environment only"),
            "{err}"
        );

        // Codes the fake's checks cannot reach from this client (it refuses the
        // input first), scripted: the same code means different things per endpoint.
        let file = || FileSource::content("T", "x", FileType::Txt).unwrap();
        let create = || CreateDataAssetRequest::new(APP, DataAssetSource::File(file())).unwrap();
        let cases: [(Route, i64, u16, &str); 5] = [
            (
                Route::UploadDataAssetFile,
                2700034,
                400,
                "unsupported file type",
            ),
            (Route::UploadDataAssetFile, 2700035, 400, "exceeds 50 MB"),
            (
                Route::CreateDataAsset,
                2700034,
                400,
                "unsupported file type",
            ),
            (
                Route::CreateDataAsset,
                2700033,
                400,
                "unsupported source type",
            ),
            (Route::GetDataAsset, 2701004, 403, "permission denied"),
        ];
        for (route, code, status, meaning) in cases {
            fake.push_fault(
                route,
                Fault::api_error(status, code, "refused"),
                Times::Once,
            );
            let err = match route {
                Route::UploadDataAssetFile => {
                    client.upload_data_asset_file(upload()).await.unwrap_err()
                }
                Route::CreateDataAsset => client.create_data_asset(create()).await.unwrap_err(),
                _ => client
                    .get_data_asset(GetDataAssetRequest::new(APP, "asset_1").unwrap())
                    .await
                    .unwrap_err(),
            };
            assert_eq!(
                (err.kind(), err.code()),
                (ErrorKind::Api, Some(code)),
                "{err}"
            );
            assert!(err.to_string().contains(meaning), "{route:?} {code}: {err}");
        }
    })
    .await;
}

#[tokio::test]
async fn invalid_ids_and_inputs_send_nothing() {
    bounded(async {
        let (fake, client) = setup().await;
        let errors = [
            client.delete_data_asset(APP, "..").await.unwrap_err(),
            client
                .delete_data_asset("a".repeat(256), "asset_1")
                .await
                .unwrap_err(),
            GetDataAssetRequest::new(APP, "").unwrap_err(),
            ListDataAssetsRequest::new(APP)
                .unwrap()
                .page_size(101)
                .unwrap_err(),
            ListDataAssetsRequest::new(APP)
                .unwrap()
                .keyword("k".repeat(256))
                .unwrap_err(),
            ListDataAssetTagsRequest::new(APP)
                .unwrap()
                .data_asset_tag_ids(["a b"])
                .unwrap_err(),
            FileSource::content("t", "x".repeat(65_537), FileType::Txt).unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        assert_eq!(fake.request_count(Route::Any), 0);
    })
    .await;
}
