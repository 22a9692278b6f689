//! The built `aily` binary's data-asset commands (`aily data-asset …`) against
//! FakeAily over real TCP: JSON on stdout, `--all`, exit codes, the upload checks.

use std::fs::File;
use std::path::PathBuf;

use crate::runner::assert_refused;
use crate::support::fake;

const APP: &str = "spring_assets__c";

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

#[tokio::test]
async fn upload_refuses_big_or_foreign_files_and_sends_nothing() {
    let fake = fake().await;
    let dir = temp_dir("upload");
    // 51 MiB, sparse: over the 50 MiB limit without writing it.
    let big = dir.join("big.pdf");
    File::create(&big)
        .unwrap()
        .set_len(51 * 1024 * 1024)
        .unwrap();
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
    assert_refused(
        &fake,
        &[
            (&["data-asset", "upload", APP, big], "50 MiB"),
            (&["data-asset", "upload", APP, exe], ".docx"),
            (&["data-asset", "upload", APP, bare], ".docx"),
            (&["data-asset", "upload", APP, missing], "missing.txt"),
            (&["data-asset", "upload", APP], "FILE"),
        ],
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}
