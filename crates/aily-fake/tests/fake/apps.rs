//! The skill and data-asset routes over real TCP with a bare hyper client: the
//! multipart upload read from the wire (one part `file`, size, type, the bytes
//! kept), create's checks in order, 404 for an unknown asset, dev-only routes,
//! start's limits, and the token check on every app route.

use crate::wire::*;
use aily_fake::{FakeAily, Route};
use bytes::Bytes;
use http::{HeaderValue, Method};
use http_body_util::Full;
use serde_json::{Value, json};

const A: &str = "/open-apis/aily/v1/apps/spring_1__c";
const BOUNDARY: &str = "fake-test-boundary";

/// A form of `(name, file name, content)` parts.
fn form(parts: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(fake: &FakeAily, query: &str, body: Vec<u8>) -> Reply {
    let mut req = request(fake, Method::POST, "/", Some("t-test"), "");
    *req.uri_mut() = format!("{}{A}/data_assets/upload_file{query}", fake.base_url())
        .parse()
        .unwrap();
    *req.body_mut() = Full::new(Bytes::from(body));
    req.headers_mut().insert(
        "content-type",
        HeaderValue::from_str(&format!("multipart/form-data; boundary={BOUNDARY}")).unwrap(),
    );
    send(&http1_client(), req).await
}

#[tokio::test]
async fn upload_reads_the_form_and_keeps_the_bytes() {
    bounded(async {
        let fake = fake_with_token().await;
        let content = b"line one\r\n--not-the-boundary\r\nline two".to_vec();
        let ok = upload(
            &fake,
            "?tenant_type=dev",
            form(&[("file", "a.TXT", &content)]),
        )
        .await;
        let data = ok.data();
        assert_eq!(data["file_info"]["mime_type"], "text/plain");
        let token = data["file_info"]["token"].as_str().unwrap();
        assert_eq!(fake.uploaded_file(token), Some(content));

        let cases: Vec<(&str, Vec<u8>, u16, i64)> = vec![
            ("", form(&[("file", "a.txt", b"x")]), 400, 2700026),
            (
                "?tenant_type=online",
                form(&[("file", "a.txt", b"x")]),
                400,
                2700026,
            ),
            ("?tenant_type=dev", form(&[]), 400, 2700472),
            (
                "?tenant_type=dev",
                form(&[("file", "a.txt", b"x"), ("file", "b.txt", b"y")]),
                400,
                2700027,
            ),
            (
                "?tenant_type=dev",
                form(&[("other", "a.txt", b"x")]),
                400,
                2700001,
            ),
            (
                "?tenant_type=dev",
                form(&[("file", "setup.exe", b"MZ")]),
                400,
                2700034,
            ),
            ("?tenant_type=dev", b"not a form".to_vec(), 400, 2700001),
        ];
        for (query, body, status, code) in cases {
            upload(&fake, query, body).await.assert_error(status, code);
        }
        assert_eq!(fake.uploaded_file_count(), 1);
        assert_eq!(fake.request_count(Route::UploadDataAssetFile), 8);
    })
    .await;
}

#[tokio::test]
async fn upload_over_50_mib_answers_2700035() {
    bounded(async {
        let fake = fake_with_token().await;
        let big = vec![b'a'; 50 * 1024 * 1024 + 1];
        upload(
            &fake,
            "?tenant_type=dev",
            form(&[("file", "big.pdf", &big)]),
        )
        .await
        .assert_error(400, 2700035);
        assert_eq!(fake.uploaded_file_count(), 0);
    })
    .await;
}

#[tokio::test]
async fn create_checks_in_the_platforms_order() {
    bounded(async {
        let fake = fake_with_token().await;
        let path = format!("{A}/data_assets?tenant_type=dev");
        let file = |extra: Value| {
            let mut file = json!({"title": "T", "content": "hello", "mime_type": "text/plain"});
            file.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            json!({"connect_type": "import", "source_type": "file",
                   "import_knowledge_setting": {"file": file}})
        };
        let cases = [
            (json!({"connect_type": "import", "source_type": "mysql"}), 2700033),
            (json!({"connect_type": "direct", "source_type": "file"}), 2700032),
            (json!({"connect_type": "import", "source_type": "file"}), 2700029),
            (
                json!({"connect_type": "import", "source_type": "file", "import_knowledge_setting":
                    {"chunk_setting": {"rule_type": "separator", "separate_type": "title", "size": 100, "overlap": 0}}}),
                2700028,
            ),
            (
                json!({"connect_type": "import", "source_type": "lark_doc", "import_knowledge_setting":
                    {"lark_doc": {"type": "docx", "token": "d"}}}),
                2700036,
            ),
            (file(json!({"mime_type": "image/png"})), 2700034),
            (file(json!({"token": "boxcn_never_uploaded"})), 2700030),
        ];
        for (body, code) in cases {
            call(&fake, Method::POST, &path, Some(body)).await.assert_error(400, code);
        }
        call(&fake, Method::POST, &format!("{A}/data_assets"), Some(file(json!({}))))
            .await
            .assert_error(400, 2700026);
        assert!(fake.data_asset_ids("spring_1__c").is_empty());

        let created = call(&fake, Method::POST, &path, Some(file(json!({})))).await.data();
        let asset = &created["data_asset"];
        assert_eq!(asset["data_source_type"], "txt");
        assert_eq!(asset["connect_status"], "awaiting");
        assert_eq!(fake.data_asset_ids("spring_1__c"), [asset["data_asset_id"].as_str().unwrap()]);

        // A cloud doc with a user token is accepted.
        fake.add_user_token("u-test");
        let doc = json!({"connect_type": "import", "source_type": "lark_doc",
                         "import_knowledge_setting": {"lark_doc": {"type": "docx", "token": "d"}}});
        let mut req = request(&fake, Method::POST, &path, Some("u-test"), &doc.to_string());
        req.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        let reply = send(&http1_client(), req).await;
        assert_eq!(reply.data()["data_asset"]["data_source_type"], "larkbiz_docx");
    })
    .await;
}

#[tokio::test]
async fn get_delete_and_lists() {
    bounded(async {
        let fake = fake_with_token().await;
        fake.add_data_asset_tag("spring_1__c", "tag_a", "Manuals");
        for id in ["asset_1", "asset_2", "asset_3"] {
            fake.add_data_asset("spring_1__c", id, &format!("Doc {id}"));
        }
        fake.tag_data_asset("spring_1__c", "asset_2", "tag_a");
        call(
            &fake,
            Method::GET,
            &format!("{A}/data_assets/asset_9"),
            None,
        )
        .await
        .assert_error(404, 2700404);
        let got = call(
            &fake,
            Method::GET,
            &format!("{A}/data_assets/asset_2?with_data_asset_item=true"),
            None,
        )
        .await
        .data();
        assert_eq!(got["data_asset"]["tags"][0]["name"], "Manuals");
        assert!(got["data_asset"]["items"].is_array());
        assert!(
            got["data_asset"].get("connect_status").is_none(),
            "only when asked"
        );

        let list = call(
            &fake,
            Method::GET,
            &format!("{A}/data_assets?page_size=500&data_asset_ids=asset_1&data_asset_ids=asset_2"),
            None,
        )
        .await
        .data();
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let tagged = call(
            &fake,
            Method::GET,
            &format!("{A}/data_assets?data_asset_tag_ids=tag_a&keyword=DOC"),
            None,
        )
        .await
        .data();
        assert_eq!(tagged["items"][0]["data_asset_id"], "asset_2");
        assert_eq!(tagged["items"].as_array().unwrap().len(), 1);
        let tags = call(
            &fake,
            Method::GET,
            &format!("{A}/data_asset_tags?keyword=man"),
            None,
        )
        .await
        .data();
        assert_eq!(
            tags["items"],
            json!([{"data_asset_tag_id": "tag_a", "name": "Manuals"}])
        );

        call(
            &fake,
            Method::DELETE,
            &format!("{A}/data_assets/asset_1"),
            None,
        )
        .await
        .assert_error(400, 2700026);
        let deleted = call(
            &fake,
            Method::DELETE,
            &format!("{A}/data_assets/asset_1?tenant_type=dev"),
            None,
        )
        .await
        .data();
        assert_eq!(deleted["data_asset"]["data_asset_id"], "asset_1");
        assert_eq!(fake.data_asset_ids("spring_1__c"), ["asset_2", "asset_3"]);
    })
    .await;
}

#[tokio::test]
async fn start_checks_the_limits_and_app_routes_check_the_token() {
    bounded(async {
        let fake = fake_with_token().await;
        fake.add_skill("spring_1__c", "skill_1", "One");
        let path = format!("{A}/skills/skill_1/start");
        for body in [
            json!({"global_variable": {"query": "q".repeat(40_961)}}),
            json!({"global_variable": {"files": vec!["f"; 33]}}),
            json!({"global_variable": {"channel": {"variables": "{"}}}),
            json!({"input": "not json"}),
            json!({"global_variable": "x"}),
        ] {
            call(&fake, Method::POST, &path, Some(body))
                .await
                .assert_error(400, 2700001);
        }
        call(
            &fake,
            Method::POST,
            &format!("{A}/skills/skill_2/start"),
            Some(json!({})),
        )
        .await
        .assert_error(400, 2700001);
        assert_eq!(fake.skill_starts("spring_1__c", "skill_1"), Some(0));
        let ok = call(
            &fake,
            Method::POST,
            &path,
            Some(json!({"global_variable": {"query": "hi"}})),
        )
        .await
        .data();
        assert_eq!(ok["status"], "success");
        let output: Value = serde_json::from_str(ok["output"].as_str().unwrap()).unwrap();
        assert_eq!(output["query"], "hi");

        for (method, path) in [
            (Method::GET, format!("{A}/skills")),
            (Method::GET, format!("{A}/data_assets")),
            (Method::GET, format!("{A}/data_asset_tags")),
            (
                Method::POST,
                format!("{A}/data_assets/upload_file?tenant_type=dev"),
            ),
        ] {
            let req = request(&fake, method, &path, None, "");
            send(&http1_client(), req).await.assert_error(400, 99991661);
        }
    })
    .await;
}
