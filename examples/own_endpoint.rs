//! An endpoint the crate does not have, added with the public API alone:
//! `GET /open-apis/aily/v1/apps/:app_id/skills` (list an Aily app's skills).
//!
//! It has the shape of every endpoint of the crate (the `request` module docs, "Adding an endpoint"): its
//! `operation!` line, its request and response types (the `Endpoint` impl names them;
//! the reply's `data` is decoded by the response type's `Deserialize`) and one
//! constructor — no other glue. The client's whole stack serves it — tokens (here app credentials: the fake issues a
//! tenant token), retry, timeouts, spans — and its errors carry Feishu's code, the
//! HTTP status and the log id like the crate's own.
//!
//! Run it: `cargo run --example own_endpoint --features testing`.

use aily_client::request::{ApiRequest, Endpoint};
use aily_client::testing::{FakeAily, Route, ScriptedReply};
use aily_client::{Client, Credentials, Error, ErrorKind};
use serde::Deserialize;

// ---- the endpoint: everything a new endpoint needs -------------------------------

aily_client::operation! {
    /// `GET /open-apis/aily/v1/apps/{app_id}/skills`.
    pub ListSkills = "aily.skill.list", GET "/open-apis/aily/v1/apps/{app_id}/skills"
}

/// One skill of an app.
#[derive(Clone, Debug, Deserialize)]
pub struct Skill {
    /// `skill_…`.
    pub id: String,
    /// Its name, when sent.
    #[serde(default)]
    pub name: Option<String>,
}

/// The reply's `data`: `{"skills": [...]}`.
#[derive(Debug, Deserialize)]
pub struct SkillsResponse {
    /// The app's skills.
    #[serde(default)]
    pub skills: Vec<Skill>,
}

impl Endpoint for ListSkills {
    type Response = SkillsResponse;
    type Body = ();
}

/// The request: the app id, validated and percent-encoded into the path.
fn list_skills(app_id: &str) -> Result<ApiRequest<ListSkills>, Error> {
    ApiRequest::with_ids(&[app_id])
}

// ---- using it --------------------------------------------------------------------

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fake = FakeAily::start().await?;
    fake.add_app("cli_demo", "demo-secret");
    let path = "/open-apis/aily/v1/apps/spring_demo__c/skills";
    fake.route(
        http::Method::GET,
        path,
        ScriptedReply::ok(serde_json::json!({
            "skills": [{"id": "skill_weather", "name": "Weather"}, {"id": "skill_news"}]
        })),
    );

    let client = Client::builder()
        .base_url(fake.base_url())
        .credentials(Credentials::app("cli_demo", "demo-secret"))
        .build()?;

    // Success: through the client's whole stack. The reply reads as its data; its
    // HTTP status and log id come with it.
    let reply = client.call(list_skills("spring_demo__c")?).await?;
    let names: Vec<_> = reply.skills.iter().map(|s| s.id.as_str()).collect();
    println!("skills: {names:?} (log id {:?})", reply.log_id());
    assert_eq!(names, ["skill_weather", "skill_news"]);
    assert_eq!(reply.status(), http::StatusCode::OK);
    assert!(reply.log_id().is_some());

    // An API error: the same Error as the crate's own endpoints.
    fake.clear_routes();
    fake.route(
        http::Method::GET,
        path,
        ScriptedReply::error(400, 2700001, "param is invalid"),
    );
    let err = client
        .call(list_skills("spring_demo__c")?)
        .await
        .expect_err("the fake answers with an error");
    println!("error: {err}");
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.code(), Some(2700001));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(err.log_id().is_some());
    assert!(err.is_invalid_param());
    println!(
        "code {:?}, HTTP {:?}, log id {:?}",
        err.code(),
        err.status(),
        err.log_id()
    );

    // The recorded requests: one token fetch, two calls of the endpoint.
    assert_eq!(fake.request_count(Route::TenantToken), 1);
    assert_eq!(fake.request_count(Route::Scripted), 2);
    // Bad input: refused before anything is sent.
    assert!(list_skills("..").is_err());
    Ok(())
}
