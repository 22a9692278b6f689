//! [`Route`]: which endpoint a request is for, by method and path shape.

use http::Method;

/// Which endpoint a request was for (by method and path shape); also the
/// filter of a fault rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// Matches every request. Only meaningful as a filter in
    /// [`FakeAily::push_fault`](super::FakeAily::push_fault) and
    /// [`FakeAily::request_count`](super::FakeAily::request_count); a request
    /// is never recorded with it.
    Any,
    /// `POST /open-apis/auth/v3/tenant_access_token/internal`.
    TenantToken,
    /// `GET /open-apis/authen/v1/authorize` (the browser's page: answers a redirect).
    Authorize,
    /// `POST /open-apis/authen/v2/oauth/token` (user tokens: code exchange, refresh).
    UserToken,
    /// `GET /open-apis/authen/v1/user_info`.
    UserInfo,
    /// `POST /oauth/v3/token` (the client assertion's keyless tenant token).
    OAuthV3Token,
    /// `POST /open-apis/auth/v3/app_access_token` (store apps).
    AppAccessToken,
    /// `POST /open-apis/auth/v3/tenant_access_token` (a store app's token per tenant).
    StoreTenantToken,
    /// `POST /open-apis/auth/v3/app_ticket/resend`.
    AppTicketResend,
    /// `POST /open-apis/aily/v1/sessions`.
    CreateSession,
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}`.
    GetSession,
    /// `PUT /open-apis/aily/v1/sessions/{aily_session_id}`.
    UpdateSession,
    /// `DELETE /open-apis/aily/v1/sessions/{aily_session_id}`.
    DeleteSession,
    /// `POST /open-apis/aily/v1/sessions/{aily_session_id}/messages`.
    CreateMessage,
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/messages/{aily_message_id}`.
    GetMessage,
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/messages`.
    ListMessages,
    /// `POST /open-apis/aily/v1/sessions/{aily_session_id}/runs`.
    CreateRun,
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/runs`.
    ListRuns,
    /// `POST /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    CancelRun,
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}`.
    GetRun,
    /// `GET /open-apis/aily/v1/app_stats`.
    AppStats,
    /// `POST /open-apis/aily/v1/agents/{agent_id}/chats`.
    CreateAgentChat,
    /// `GET /open-apis/aily/v1/agents/{agent_id}/chats/{agent_chat_id}`.
    GetAgentChat,
    /// `POST /open-apis/aily/v1/agents/{agent_id}/sessions`.
    CreateAgentSession,
    /// `GET /open-apis/aily/v1/agents/{agent_id}/sessions/{agent_chat_session_id}`.
    GetAgentSession,
    /// `GET /open-apis/aily/v1/agents/{agent_id}/sessions`.
    ListAgentSessions,
    /// `DELETE /open-apis/aily/v1/agents/{agent_id}/sessions/{agent_chat_session_id}`.
    DeleteAgentSession,
    /// `POST /open-apis/aily/v1/agents/{agent_id}/attachments` (multipart/form-data).
    UploadAgentAttachment,
    /// `GET /open-apis/aily/v1/agents/{agent_id}/artifacts/{agent_artifact_id}`.
    GetAgentArtifact,
    /// `POST /open-apis/aily/v1/agents/{agent_id}/agent_visibility/check`.
    CheckAgentVisibility,
    /// `GET /open-apis/aily/v1/apps/{app_id}/skills`.
    ListSkills,
    /// `GET /open-apis/aily/v1/apps/{app_id}/skills/{skill_id}`.
    GetSkill,
    /// `POST /open-apis/aily/v1/apps/{app_id}/skills/{skill_id}/start`.
    StartSkill,
    /// `POST /open-apis/aily/v1/apps/{app_id}/data_assets`.
    CreateDataAsset,
    /// `GET /open-apis/aily/v1/apps/{app_id}/data_assets/{data_asset_id}`.
    GetDataAsset,
    /// `DELETE /open-apis/aily/v1/apps/{app_id}/data_assets/{data_asset_id}`.
    DeleteDataAsset,
    /// `GET /open-apis/aily/v1/apps/{app_id}/data_assets`.
    ListDataAssets,
    /// `GET /open-apis/aily/v1/apps/{app_id}/data_asset_tags`.
    ListDataAssetTags,
    /// `POST /open-apis/aily/v1/apps/{app_id}/data_assets/upload_file` (multipart).
    UploadDataAssetFile,
    /// `POST /open-apis/aily/v1/apps/{app_id}/knowledges/ask` (an event stream).
    KnowledgeAsk,
    /// A method and path answered by a reply scripted with
    /// [`FakeAily::route`](super::FakeAily::route) (checked before every
    /// built-in route).
    Scripted,
    /// Any other method or path (answered with HTTP 404).
    Other,
}

impl Route {
    /// Whether the endpoint takes a JSON body (empty, `null` or an object).
    pub(crate) fn has_body(self) -> bool {
        matches!(
            self,
            Route::CreateSession
                | Route::UpdateSession
                | Route::CreateMessage
                | Route::CreateRun
                | Route::CancelRun
                | Route::CreateAgentChat
                | Route::CreateAgentSession
                | Route::CheckAgentVisibility
                | Route::StartSkill
                | Route::CreateDataAsset
        )
    }

    /// Whether the route is one of `aily/v1/agents/{agent_id}/…`.
    pub(crate) fn is_agent(self) -> bool {
        matches!(
            self,
            Route::CreateAgentChat
                | Route::GetAgentChat
                | Route::CreateAgentSession
                | Route::GetAgentSession
                | Route::ListAgentSessions
                | Route::DeleteAgentSession
                | Route::UploadAgentAttachment
                | Route::GetAgentArtifact
                | Route::CheckAgentVisibility
        )
    }

    /// Whether the endpoint is one of an Aily app's (`apps/{app_id}/…`: skills,
    /// data assets).
    pub(crate) fn is_app_route(self) -> bool {
        matches!(
            self,
            Route::ListSkills
                | Route::GetSkill
                | Route::StartSkill
                | Route::CreateDataAsset
                | Route::GetDataAsset
                | Route::DeleteDataAsset
                | Route::ListDataAssets
                | Route::ListDataAssetTags
                | Route::UploadDataAssetFile
        )
    }
}

/// Raw (still percent-encoded) path parameters of an aily route.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawIds<'a> {
    pub(crate) session: Option<&'a str>,
    pub(crate) message: Option<&'a str>,
    pub(crate) run: Option<&'a str>,
    /// `{agent_id}` of an agents route.
    pub(crate) agent: Option<&'a str>,
    /// The second id of an agents route (a chat, session or artifact).
    pub(crate) agent_item: Option<&'a str>,
    /// `{app_id}` of an app route.
    pub(crate) app: Option<&'a str>,
    /// `{skill_id}` or `{data_asset_id}` of an app route.
    pub(crate) item: Option<&'a str>,
}

const TOKEN_PATH: [&str; 5] = ["open-apis", "auth", "v3", "tenant_access_token", "internal"];
const SESSIONS: [&str; 4] = ["open-apis", "aily", "v1", "sessions"];
const AILY_V1: [&str; 3] = ["open-apis", "aily", "v1"];
const APPS: [&str; 4] = ["open-apis", "aily", "v1", "apps"];

/// Classifies a request by method and path shape (scripted routes aside).
pub(crate) fn classify<'a>(method: &Method, path: &'a str) -> (Route, RawIds<'a>) {
    let none = RawIds::default();
    let Some(rest) = path.strip_prefix('/') else {
        return (Route::Other, none);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments == TOKEN_PATH {
        let route = if method == Method::POST {
            Route::TenantToken
        } else {
            Route::Other
        };
        return (route, none);
    }
    let oauth = match (method, segments.as_slice()) {
        (&Method::GET, ["open-apis", "authen", "v1", "authorize"]) => Some(Route::Authorize),
        (&Method::POST, ["open-apis", "authen", "v2", "oauth", "token"]) => Some(Route::UserToken),
        (&Method::GET, ["open-apis", "authen", "v1", "user_info"]) => Some(Route::UserInfo),
        (&Method::POST, ["oauth", "v3", "token"]) => Some(Route::OAuthV3Token),
        (&Method::POST, ["open-apis", "auth", "v3", "app_access_token"]) => {
            Some(Route::AppAccessToken)
        }
        (&Method::POST, ["open-apis", "auth", "v3", "tenant_access_token"]) => {
            Some(Route::StoreTenantToken)
        }
        (&Method::POST, ["open-apis", "auth", "v3", "app_ticket", "resend"]) => {
            Some(Route::AppTicketResend)
        }
        _ => None,
    };
    if let Some(route) = oauth {
        return (route, none);
    }
    if method == Method::POST
        && let ["open-apis", "aily", "v1", "apps", app, "knowledges", "ask"] = segments.as_slice()
        && !app.is_empty()
    {
        return (Route::KnowledgeAsk, none);
    }
    if let Some(tail) = segments.strip_prefix(&APPS[..]) {
        return classify_app(method, tail);
    }
    if let Some(found) = classify_v1(method, &segments) {
        return found;
    }
    let Some(tail) = segments.strip_prefix(&SESSIONS[..]) else {
        return (Route::Other, none);
    };
    let m = method.clone();
    let (route, ids) = match tail {
        [] if m == Method::POST => (Route::CreateSession, none),
        [s] => {
            let route = match m {
                Method::GET => Route::GetSession,
                Method::PUT => Route::UpdateSession,
                Method::DELETE => Route::DeleteSession,
                _ => Route::Other,
            };
            (route, session(s))
        }
        [s, "messages"] if m == Method::POST => (Route::CreateMessage, session(s)),
        [s, "messages"] if m == Method::GET => (Route::ListMessages, session(s)),
        [s, "messages", msg] if m == Method::GET => (
            Route::GetMessage,
            RawIds {
                message: Some(msg),
                ..session(s)
            },
        ),
        [s, "runs"] if m == Method::POST => (Route::CreateRun, session(s)),
        [s, "runs"] if m == Method::GET => (Route::ListRuns, session(s)),
        [s, "runs", r] if m == Method::GET => (Route::GetRun, run(s, r)),
        [s, "runs", r, "cancel"] if m == Method::POST => (Route::CancelRun, run(s, r)),
        _ => (Route::Other, none),
    };
    if route == Route::Other {
        (route, none)
    } else {
        (route, ids)
    }
}

/// App stats and the `agents/{agent_id}/…` routes; `None` for any other path.
fn classify_v1<'a>(method: &Method, segments: &[&'a str]) -> Option<(Route, RawIds<'a>)> {
    let tail = segments.strip_prefix(&AILY_V1[..])?;
    if tail == ["app_stats"] {
        let route = if method == Method::GET {
            Route::AppStats
        } else {
            Route::Other
        };
        return Some((route, RawIds::default()));
    }
    let ["agents", agent, rest @ ..] = tail else {
        return None;
    };
    let m = method.clone();
    let route = match rest {
        ["chats"] if m == Method::POST => Route::CreateAgentChat,
        ["chats", _] if m == Method::GET => Route::GetAgentChat,
        ["sessions"] if m == Method::POST => Route::CreateAgentSession,
        ["sessions"] if m == Method::GET => Route::ListAgentSessions,
        ["sessions", _] if m == Method::GET => Route::GetAgentSession,
        ["sessions", _] if m == Method::DELETE => Route::DeleteAgentSession,
        ["attachments"] if m == Method::POST => Route::UploadAgentAttachment,
        ["artifacts", _] if m == Method::GET => Route::GetAgentArtifact,
        ["agent_visibility", "check"] if m == Method::POST => Route::CheckAgentVisibility,
        _ => return Some((Route::Other, RawIds::default())),
    };
    let item = match rest {
        [_, item] if route != Route::CheckAgentVisibility => Some(*item),
        _ => None,
    };
    Some((
        route,
        RawIds {
            agent: Some(agent),
            agent_item: item,
            ..RawIds::default()
        },
    ))
}

/// `apps/{app_id}/…`: the skill and data-asset routes.
fn classify_app<'a>(method: &Method, tail: &[&'a str]) -> (Route, RawIds<'a>) {
    let ids = |app: &'a str, item: Option<&'a str>| RawIds {
        app: Some(app),
        item,
        ..RawIds::default()
    };
    match (method, tail) {
        (&Method::GET, [app, "skills"]) => (Route::ListSkills, ids(app, None)),
        (&Method::GET, [app, "skills", skill]) => (Route::GetSkill, ids(app, Some(skill))),
        (&Method::POST, [app, "skills", skill, "start"]) => {
            (Route::StartSkill, ids(app, Some(skill)))
        }
        (&Method::POST, [app, "data_assets"]) => (Route::CreateDataAsset, ids(app, None)),
        (&Method::GET, [app, "data_assets"]) => (Route::ListDataAssets, ids(app, None)),
        (&Method::POST, [app, "data_assets", "upload_file"]) => {
            (Route::UploadDataAssetFile, ids(app, None))
        }
        (&Method::GET, [app, "data_assets", asset]) => (Route::GetDataAsset, ids(app, Some(asset))),
        (&Method::DELETE, [app, "data_assets", asset]) => {
            (Route::DeleteDataAsset, ids(app, Some(asset)))
        }
        (&Method::GET, [app, "data_asset_tags"]) => (Route::ListDataAssetTags, ids(app, None)),
        _ => (Route::Other, RawIds::default()),
    }
}

fn session(s: &str) -> RawIds<'_> {
    RawIds {
        session: Some(s),
        ..RawIds::default()
    }
}

fn run<'a>(s: &'a str, r: &'a str) -> RawIds<'a> {
    RawIds {
        run: Some(r),
        ..session(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "/open-apis/aily/v1/sessions";

    #[test]
    fn classifies_every_route() {
        let cases = [
            (Method::POST, S.to_owned(), Route::CreateSession),
            (Method::GET, format!("{S}/s1"), Route::GetSession),
            (Method::PUT, format!("{S}/s1"), Route::UpdateSession),
            (Method::DELETE, format!("{S}/s1"), Route::DeleteSession),
            (
                Method::POST,
                format!("{S}/s1/messages"),
                Route::CreateMessage,
            ),
            (Method::GET, format!("{S}/s1/messages"), Route::ListMessages),
            (
                Method::GET,
                format!("{S}/s1/messages/m1"),
                Route::GetMessage,
            ),
            (Method::POST, format!("{S}/s1/runs"), Route::CreateRun),
            (Method::GET, format!("{S}/s1/runs"), Route::ListRuns),
            (Method::GET, format!("{S}/s1/runs/r1"), Route::GetRun),
            (
                Method::POST,
                format!("{S}/s1/runs/r1/cancel"),
                Route::CancelRun,
            ),
            (
                Method::POST,
                "/open-apis/auth/v3/tenant_access_token/internal".to_owned(),
                Route::TenantToken,
            ),
        ];
        for (method, path, expected) in cases {
            let (route, ids) = classify(&method, &path);
            assert_eq!(route, expected, "{method} {path}");
            assert_eq!(ids.app, None);
            assert_eq!(ids.session.is_some(), path.contains("/s1"), "{path}");
            assert_eq!(ids.run, path.contains("/r1").then_some("r1"), "{path}");
            assert_eq!(ids.message, path.contains("/m1").then_some("m1"), "{path}");
        }
    }

    #[test]
    fn classifies_the_agent_routes_and_app_stats() {
        let a = "/open-apis/aily/v1/agents/agent_1";
        let cases = [
            (
                Method::GET,
                "/open-apis/aily/v1/app_stats".to_owned(),
                Route::AppStats,
                None,
            ),
            (
                Method::POST,
                format!("{a}/chats"),
                Route::CreateAgentChat,
                None,
            ),
            (
                Method::GET,
                format!("{a}/chats/c1"),
                Route::GetAgentChat,
                Some("c1"),
            ),
            (
                Method::POST,
                format!("{a}/sessions"),
                Route::CreateAgentSession,
                None,
            ),
            (
                Method::GET,
                format!("{a}/sessions"),
                Route::ListAgentSessions,
                None,
            ),
            (
                Method::GET,
                format!("{a}/sessions/s1"),
                Route::GetAgentSession,
                Some("s1"),
            ),
            (
                Method::DELETE,
                format!("{a}/sessions/s1"),
                Route::DeleteAgentSession,
                Some("s1"),
            ),
            (
                Method::POST,
                format!("{a}/attachments"),
                Route::UploadAgentAttachment,
                None,
            ),
            (
                Method::GET,
                format!("{a}/artifacts/x1"),
                Route::GetAgentArtifact,
                Some("x1"),
            ),
            (
                Method::POST,
                format!("{a}/agent_visibility/check"),
                Route::CheckAgentVisibility,
                None,
            ),
        ];
        for (method, path, expected, item) in cases {
            let (route, ids) = classify(&method, &path);
            assert_eq!(route, expected, "{method} {path}");
            assert_eq!(ids.agent_item, item, "{path}");
            assert_eq!(ids.agent.is_some(), path.contains("agent_1"), "{path}");
        }
        for (method, path) in [
            (Method::POST, "/open-apis/aily/v1/app_stats".to_owned()),
            (Method::DELETE, format!("{a}/chats/c1")),
            (Method::GET, format!("{a}/attachments")),
            (Method::GET, format!("{a}/agent_visibility/check")),
            (Method::GET, a.to_owned()),
        ] {
            assert_eq!(classify(&method, &path).0, Route::Other, "{method} {path}");
        }
    }

    #[test]
    fn classifies_the_app_routes() {
        const A: &str = "/open-apis/aily/v1/apps/spring_1__c";
        let cases = [
            (Method::GET, format!("{A}/skills"), Route::ListSkills, None),
            (
                Method::GET,
                format!("{A}/skills/k1"),
                Route::GetSkill,
                Some("k1"),
            ),
            (
                Method::POST,
                format!("{A}/skills/k1/start"),
                Route::StartSkill,
                Some("k1"),
            ),
            (
                Method::POST,
                format!("{A}/data_assets"),
                Route::CreateDataAsset,
                None,
            ),
            (
                Method::GET,
                format!("{A}/data_assets"),
                Route::ListDataAssets,
                None,
            ),
            (
                Method::GET,
                format!("{A}/data_assets/a1"),
                Route::GetDataAsset,
                Some("a1"),
            ),
            (
                Method::DELETE,
                format!("{A}/data_assets/a1"),
                Route::DeleteDataAsset,
                Some("a1"),
            ),
            (
                Method::POST,
                format!("{A}/data_assets/upload_file"),
                Route::UploadDataAssetFile,
                None,
            ),
            (
                Method::GET,
                format!("{A}/data_asset_tags"),
                Route::ListDataAssetTags,
                None,
            ),
        ];
        for (method, path, expected, item) in cases {
            let (route, ids) = classify(&method, &path);
            assert_eq!(route, expected, "{method} {path}");
            assert!(route.is_app_route());
            assert_eq!((ids.app, ids.item), (Some("spring_1__c"), item), "{path}");
        }
        for (method, path) in [
            (Method::POST, format!("{A}/skills")),
            (Method::GET, format!("{A}/skills/k1/start")),
            (Method::PUT, format!("{A}/data_assets/a1")),
            (Method::POST, format!("{A}/data_assets/a1")),
            (Method::GET, "/open-apis/aily/v1/apps".to_owned()),
        ] {
            assert_eq!(classify(&method, &path).0, Route::Other, "{method} {path}");
        }
    }

    #[test]
    fn other_shapes_are_other() {
        let cases = [
            (Method::GET, S.to_owned()),
            (Method::PATCH, format!("{S}/s1")),
            (Method::DELETE, format!("{S}/s1/runs")),
            (Method::PUT, format!("{S}/s1/messages")),
            (Method::POST, format!("{S}/s1/messages/m1")),
            (Method::POST, format!("{S}/s1/runs/r1")),
            (Method::GET, format!("{S}/s1/runs/r1/cancel")),
            (Method::POST, format!("{S}/s1/runs/r1/cancel/")),
            (
                Method::GET,
                "/open-apis/auth/v3/tenant_access_token/internal".to_owned(),
            ),
            (Method::POST, "*".to_owned()),
            (Method::POST, "/".to_owned()),
        ];
        for (method, path) in cases {
            let (route, ids) = classify(&method, &path);
            assert_eq!(route, Route::Other, "{method} {path}");
            assert_eq!(ids, RawIds::default());
        }
        // Empty ids keep their route (and are refused as invalid later).
        let path = format!("{S}//runs/r/cancel");
        let (route, ids) = classify(&Method::POST, &path);
        assert_eq!((route, ids.session), (Route::CancelRun, Some("")));
    }
}
