//! The built `aily` binary's data-asset commands (`aily data-asset …`) against
//! FakeAily over real TCP: JSON on stdout, `--all`, exit codes, the upload checks.

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use crate::runner::{
    aily_at, aily_at_within, aily_json, aily_one, assert_api_failure, assert_refused,
    assert_timed_out, text,
};
use crate::support::fake;
use aily_client::testing::{Fault, Route, Times};
use serde_json::Value;

const APP: &str = "spring_assets__c";
const TAG: &str = "spring_assets__c__asset_tag_1";

/// A fresh temporary directory of this test process.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aily-cli-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

fn asset_id(value: &Value) -> String {
    value["data_asset_id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn data_asset_list_get_delete_and_tags_print_json() {
    let fake = fake().await;
    let ids: Vec<String> = (0..5).map(|i| format!("asset_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        fake.add_data_asset(APP, id, &format!("Handbook {i}"));
    }
    fake.add_data_asset_tag(APP, TAG, "Manuals");
    fake.add_data_asset_tag(APP, "spring_assets__c__asset_tag_2", "Other");
    fake.tag_data_asset(APP, "asset_1", TAG);
    fake.tag_data_asset(APP, "asset_3", TAG);

    let all = aily_json(
        &fake,
        &["data-asset", "list", APP, "--page-size", "2", "--all"],
    )
    .await;
    assert_eq!(all.iter().map(asset_id).collect::<Vec<_>>(), ids);
    assert_eq!(fake.request_count(Route::ListDataAssets), 3);
    assert_eq!(all[1]["label"]["zh_cn"], "Handbook 1");
    assert_eq!(all[1]["tags"][0]["data_asset_tag_id"], TAG, "{}", all[1]);

    let out = aily_at(&fake, &["data-asset", "list", APP, "--page-size", "2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(text(&out.stderr).contains("--all"), "{}", text(&out.stderr));

    let tagged = aily_json(
        &fake,
        &[
            "data-asset",
            "list",
            APP,
            "--tag",
            TAG,
            "--keyword",
            "handbook",
        ],
    )
    .await;
    assert_eq!(
        tagged.iter().map(asset_id).collect::<Vec<_>>(),
        ["asset_1", "asset_3"]
    );
    let sent = fake.requests().last().unwrap().path.clone();
    assert!(
        sent.contains(&format!("data_asset_tag_ids={TAG}")),
        "{sent}"
    );
    assert!(sent.contains("keyword=handbook"), "{sent}");

    let tags = aily_json(
        &fake,
        &["data-asset", "tags", APP, "--page-size", "1", "--all"],
    )
    .await;
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0]["data_asset_tag_id"], TAG);
    assert_eq!(tags[0]["name"], "Manuals");
    assert_eq!(fake.request_count(Route::ListDataAssetTags), 2);

    fake.set_data_asset_connect_status(APP, "asset_2", "failed", Some("no access"));
    let got = aily_one(&fake, &["data-asset", "get", APP, "asset_2"]).await;
    assert_eq!(got["connect_status"], "failed", "{got}");
    assert_eq!(got["connect_failed_reason"], "no access", "{got}");

    let deleted = aily_one(&fake, &["data-asset", "delete", APP, "asset_2"]).await;
    assert_eq!(asset_id(&deleted), "asset_2");
    assert!(!fake.data_asset_ids(APP).contains(&"asset_2".to_owned()));
}

#[tokio::test]
async fn data_asset_upload_then_create() {
    let fake = fake().await;
    let dir = temp_dir("upload-ok");
    let file = dir.join("Handbook.txt");
    std::fs::write(&file, b"Be kind.").unwrap();
    let uploaded = aily_one(
        &fake,
        &["data-asset", "upload", APP, file.to_str().unwrap()],
    )
    .await;
    assert_eq!(uploaded["mime_type"], "text/plain", "{uploaded}");
    let token = uploaded["token"].as_str().unwrap();
    assert_eq!(fake.uploaded_file(token).unwrap(), b"Be kind.");

    let created = aily_one(
        &fake,
        &[
            "data-asset",
            "create",
            APP,
            "--file-token",
            token,
            "--mime-type",
            "text/plain",
            "--name",
            "Handbook",
            "--description",
            "The staff handbook",
        ],
    )
    .await;
    let id = asset_id(&created);
    assert!(fake.data_asset_ids(APP).contains(&id), "{created}");
    let sent: Value = serde_json::from_slice(&fake.requests().last().unwrap().body).unwrap();
    let file = &sent["import_knowledge_setting"]["file"];
    assert_eq!(file["token"], token);
    assert_eq!(file["title"], "Handbook");
    assert_eq!(sent["description"]["zh_cn"], "The staff handbook");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn data_asset_invalid_input_exits_2_and_sends_nothing() {
    let fake = fake().await;
    let dir = temp_dir("upload");
    // 51 MB, sparse: over the 50 MB limit without writing it.
    let big = dir.join("big.pdf");
    File::create(&big).unwrap().set_len(51_000_000).unwrap();
    let exe = dir.join("tool.exe");
    std::fs::write(&exe, b"MZ").unwrap();
    let bare = dir.join("notes");
    std::fs::write(&bare, b"text").unwrap();
    let missing = dir.join("missing.txt");
    let (big, exe, bare, missing) = (
        big.to_str().unwrap(),
        exe.to_str().unwrap(),
        bare.to_str().unwrap(),
        missing.to_str().unwrap(),
    );
    let long = "k".repeat(256);
    assert_refused(
        &fake,
        &[
            (&["data-asset", "upload", APP, big], "50 MB"),
            (&["data-asset", "upload", APP, exe], ".docx"),
            (&["data-asset", "upload", APP, bare], ".docx"),
            (&["data-asset", "upload", APP, missing], "missing.txt"),
            (&["data-asset", "upload", "..", exe], "app_id"),
            (&["data-asset", "upload", APP], "FILE"),
            (&["data-asset", "list", ".."], "app_id"),
            (
                &["data-asset", "list", APP, "--tag", "a b"],
                "data_asset_tag_ids",
            ),
            (&["data-asset", "list", APP, "--keyword", &long], "keyword"),
            (
                &["data-asset", "list", APP, "--page-size", "101"],
                "page_size",
            ),
            (&["data-asset", "get", APP, ""], "data_asset_id"),
            (&["data-asset", "delete", APP, "a b"], "data_asset_id"),
            (
                &["data-asset", "tags", APP, "--page-size", "0"],
                "--page-size",
            ),
            (&["data-asset", "create", APP], "--file-token"),
            (
                &[
                    "data-asset",
                    "create",
                    APP,
                    "--file-token",
                    "t",
                    "--mime-type",
                    "image/png",
                ],
                "--mime-type",
            ),
            (
                &["data-asset", "create", APP, "--file-token", "t"],
                "--mime-type",
            ),
            (
                &[
                    "data-asset",
                    "create",
                    APP,
                    "--file-token",
                    "",
                    "--name",
                    "a.pdf",
                ],
                "token",
            ),
        ],
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn data_asset_server_errors_exit_1_with_code_and_log_id() {
    let fake = fake().await;
    // An unknown asset: HTTP 404, code 2700404.
    let out = aily_at(&fake, &["data-asset", "get", APP, "asset_nope"]).await;
    assert_api_failure(&fake, &out, 2700404);
    assert!(out.stdout.is_empty());
    fake.push_fault(
        Route::ListDataAssetTags,
        Fault::api_error(403, 2701004, "permission denied"),
        Times::Once,
    );
    let out = aily_at(&fake, &["data-asset", "tags", APP, "--all"]).await;
    assert_api_failure(&fake, &out, 2701004);
}

#[tokio::test]
async fn data_asset_timeout_bounds_the_command() {
    let fake = fake().await;
    fake.push_fault(
        Route::Any,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Always,
    );
    for args in [
        &["data-asset", "list", APP, "--all", "--timeout", "0.5"][..],
        &["data-asset", "get", APP, "asset_1", "--timeout", "0.5"],
    ] {
        let out = aily_at_within(Duration::from_secs(20), &fake, args).await;
        assert_timed_out(&out);
    }
}
