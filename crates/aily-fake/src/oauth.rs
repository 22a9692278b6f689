//! The fake's OAuth and store-app endpoints:
//!
//! - `GET /open-apis/authen/v1/authorize` issues a one-time code for a PKCE (S256)
//!   challenge and redirects (302) to `redirect_uri?code=…&state=…`;
//! - `POST /open-apis/authen/v2/oauth/token` exchanges a code (checking the verifier
//!   and the redirect URI) or a refresh token — **single use**: a second use answers
//!   20064 (revoked), and refreshes are counted;
//! - `GET /open-apis/authen/v1/user_info` answers who a user token belongs to;
//! - `POST /oauth/v3/token` grants a tenant token for a client assertion
//!   (jwt-bearer), checked against the one registered for the app;
//! - `POST /open-apis/auth/v3/app_access_token`, `…/tenant_access_token` (per
//!   tenant key) and `…/app_ticket/resend` for store apps; a ticket that is not the
//!   current one answers 10012.

use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::body::FakeBody;
use super::reply::{error_response, json_response, raw_response};
use super::state::{State, TokenKind};
use super::util;

type Reply = http::Response<FakeBody>;

/// The OAuth state of the fake.
#[derive(Debug)]
pub(crate) struct OAuth {
    codes: HashMap<String, Code>,
    refresh_tokens: HashMap<String, Refresh>,
    pub(crate) user_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) user: (String, String),
    pub(crate) refreshes: usize,
    pub(crate) refresh_reuses: usize,
    pub(crate) assertions: HashMap<String, String>,
    pub(crate) assertion_grants: usize,
    pub(crate) store_apps: HashMap<String, StoreApp>,
    pub(crate) ticket_resends: usize,
}

impl Default for OAuth {
    fn default() -> Self {
        OAuth {
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            user_ttl: Duration::from_secs(7200),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            user: ("ou_fake_user".to_owned(), "Fake User".to_owned()),
            refreshes: 0,
            refresh_reuses: 0,
            assertions: HashMap::new(),
            assertion_grants: 0,
            store_apps: HashMap::new(),
            ticket_resends: 0,
        }
    }
}

#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    expires_at: Instant,
}

#[derive(Debug)]
struct Refresh {
    client_id: String,
    scope: String,
    used: bool,
    expires_at: Instant,
}

/// A store app: its secret, the ticket it accepts and its tenants' tokens.
#[derive(Debug)]
pub(crate) struct StoreApp {
    pub(crate) secret: String,
    pub(crate) ticket: Option<String>,
    app_tokens: Vec<String>,
    /// Tenant token → tenant key.
    pub(crate) tenant_tokens: HashMap<String, String>,
}

impl StoreApp {
    pub(crate) fn new(secret: &str) -> StoreApp {
        StoreApp {
            secret: secret.to_owned(),
            ticket: None,
            app_tokens: Vec::new(),
            tenant_tokens: HashMap::new(),
        }
    }
}

fn oauth_error(status: u16, code: i64, error: &str, description: &str, log_id: &str) -> Reply {
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        &json!({"code": code, "error": error, "error_description": description}),
        log_id,
    )
}

fn body_map(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `GET /open-apis/authen/v1/authorize?client_id&redirect_uri&scope&state&code_challenge&code_challenge_method`.
pub(crate) fn authorize(state: &mut State, query: &[(String, String)], log_id: &str) -> Reply {
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let (client_id, redirect_uri) = (get("client_id"), get("redirect_uri"));
    if !state.has_app(client_id) || redirect_uri.is_empty() {
        return oauth_error(
            400,
            20010,
            "invalid_client",
            "unknown client or no redirect_uri",
            log_id,
        );
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return oauth_error(
            400,
            20001,
            "invalid_request",
            "PKCE S256 is required",
            log_id,
        );
    }
    let code = format!("code-{}", util::random_hex(2));
    let now = Instant::now();
    state.oauth.codes.insert(
        code.clone(),
        Code {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: get("code_challenge").to_owned(),
            scope: get("scope").to_owned(),
            expires_at: now + Duration::from_secs(300),
        },
    );
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect_uri}{sep}code={code}&state={}",
        percent_encode(get("state"))
    );
    let mut reply = raw_response(
        StatusCode::FOUND,
        "text/plain",
        FakeBody::full(Vec::new()),
        log_id,
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        reply.headers_mut().insert(http::header::LOCATION, v);
    }
    reply
}

/// `POST /open-apis/authen/v2/oauth/token`.
pub(crate) fn user_token(state: &mut State, body: &[u8], log_id: &str) -> Reply {
    let Some(req) = body_map(body) else {
        return oauth_error(
            400,
            20001,
            "invalid_request",
            "the body is not JSON",
            log_id,
        );
    };
    let client_id = field(&req, "client_id");
    if !state.app_secret_is(client_id, field(&req, "client_secret")) {
        return oauth_error(
            401,
            20002,
            "invalid_client",
            "client authentication failed",
            log_id,
        );
    }
    let now = Instant::now();
    let scope = match field(&req, "grant_type") {
        "authorization_code" => {
            let Some(code) = state.oauth.codes.remove(field(&req, "code")) else {
                return oauth_error(
                    400,
                    20003,
                    "invalid_grant",
                    "the code is invalid or used",
                    log_id,
                );
            };
            if code.expires_at <= now || code.client_id != client_id {
                return oauth_error(400, 20004, "invalid_grant", "the code expired", log_id);
            }
            if code.redirect_uri != field(&req, "redirect_uri") {
                return oauth_error(400, 20005, "invalid_grant", "redirect_uri mismatch", log_id);
            }
            if pkce_s256(field(&req, "code_verifier")) != code.challenge {
                return oauth_error(
                    400,
                    20006,
                    "invalid_grant",
                    "the code_verifier does not match",
                    log_id,
                );
            }
            code.scope
        }
        "refresh_token" => {
            let Some(record) = state
                .oauth
                .refresh_tokens
                .get_mut(field(&req, "refresh_token"))
            else {
                return oauth_error(
                    400,
                    20026,
                    "invalid_grant",
                    "the refresh token is invalid",
                    log_id,
                );
            };
            if record.used {
                state.oauth.refresh_reuses += 1;
                return oauth_error(
                    400,
                    20064,
                    "invalid_grant",
                    "the refresh token is revoked",
                    log_id,
                );
            }
            if record.expires_at <= now {
                return oauth_error(
                    400,
                    20037,
                    "invalid_grant",
                    "the refresh token expired",
                    log_id,
                );
            }
            if record.client_id != client_id {
                return oauth_error(
                    400,
                    20026,
                    "invalid_grant",
                    "not this client's token",
                    log_id,
                );
            }
            // Single use: dead as soon as it is answered.
            record.used = true;
            state.oauth.refreshes += 1;
            record.scope.clone()
        }
        _ => {
            return oauth_error(
                400,
                20001,
                "unsupported_grant_type",
                "unknown grant_type",
                log_id,
            );
        }
    };
    let access = format!("u-{}", util::random_hex(2));
    let ttl = state.oauth.user_ttl;
    state.add_token(&access, TokenKind::User, Some(ttl));
    let mut reply = json!({
        "code": 0,
        "access_token": access,
        "expires_in": ttl.as_secs(),
        "token_type": "Bearer",
        "scope": scope,
    });
    if scope.split(' ').any(|s| s == "offline_access") {
        let refresh = format!("r-{}", util::random_hex(2));
        let refresh_ttl = state.oauth.refresh_ttl;
        state.oauth.refresh_tokens.insert(
            refresh.clone(),
            Refresh {
                client_id: client_id.to_owned(),
                scope: scope.clone(),
                used: false,
                expires_at: now + refresh_ttl,
            },
        );
        reply["refresh_token"] = refresh.into();
        reply["refresh_token_expires_in"] = refresh_ttl.as_secs().into();
    }
    json_response(StatusCode::OK, &reply, log_id)
}

/// `GET /open-apis/authen/v1/user_info` (the user token was checked already).
pub(crate) fn user_info(state: &State, log_id: &str) -> Reply {
    let (open_id, name) = &state.oauth.user;
    json_response(
        StatusCode::OK,
        &json!({"code": 0, "msg": "success", "data": {"open_id": open_id, "name": name}}),
        log_id,
    )
}

/// `POST /oauth/v3/token`: the jwt-bearer grant only.
pub(crate) fn v3_token(state: &mut State, body: &[u8], log_id: &str) -> Reply {
    let Some(req) = body_map(body) else {
        return oauth_error(400, 7101, "invalid_request", "the body is not JSON", log_id);
    };
    if field(&req, "grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
        || field(&req, "client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    {
        return oauth_error(
            400,
            7100,
            "unsupported_grant_type",
            "jwt-bearer only",
            log_id,
        );
    }
    let assertion = field(&req, "client_assertion");
    if assertion.is_empty() {
        return oauth_error(
            400,
            7101,
            "invalid_request",
            "empty client_assertion",
            log_id,
        );
    }
    match state.oauth.assertions.get(field(&req, "client_id")) {
        Some(expected) if expected == assertion => {}
        _ => {
            return oauth_error(
                401,
                7102,
                "invalid_client",
                "the assertion was refused",
                log_id,
            );
        }
    }
    state.oauth.assertion_grants += 1;
    // A JWT-shaped token, over 4 KB like the OAuth v3 tenant token.
    let token = format!("t-{}.{}", util::random_hex(2), "x".repeat(4200));
    let ttl = state.token_ttl();
    state.add_token(&token, TokenKind::Tenant, Some(ttl));
    json_response(
        StatusCode::OK,
        &json!({"access_token": token, "expires_in": ttl.as_secs(), "token_type": "Bearer"}),
        log_id,
    )
}

/// The store-app endpoints: `app_access_token`, `tenant_access_token`, `app_ticket/resend`.
pub(crate) fn store(state: &mut State, which: super::Route, body: &[u8], log_id: &str) -> Reply {
    let Some(req) = body_map(body) else {
        return error_response(400, 9499, "Bad Request", log_id, None);
    };
    let ttl = state.token_ttl();
    match which {
        super::Route::AppTicketResend => {
            match state.oauth.store_apps.get(field(&req, "app_id")) {
                Some(app) if app.secret == field(&req, "app_secret") => {}
                _ => return error_response(400, 10014, "app secret invalid", log_id, None),
            }
            state.oauth.ticket_resends += 1;
            json_response(StatusCode::OK, &json!({"code": 0, "msg": "ok"}), log_id)
        }
        super::Route::AppAccessToken => {
            let Some(app) = state.oauth.store_apps.get_mut(field(&req, "app_id")) else {
                return error_response(400, 10003, "invalid param", log_id, None);
            };
            if app.secret != field(&req, "app_secret") {
                return error_response(400, 10014, "app secret invalid", log_id, None);
            }
            if app.ticket.as_deref() != Some(field(&req, "app_ticket")) {
                return error_response(400, 10012, "app ticket invalid", log_id, None);
            }
            let token = format!("a-{}", util::random_hex(2));
            app.app_tokens.push(token.clone());
            json_response(
                StatusCode::OK,
                &json!({"code": 0, "msg": "ok", "app_access_token": token, "expire": ttl.as_secs()}),
                log_id,
            )
        }
        _ => {
            let app_token = field(&req, "app_access_token");
            let tenant_key = field(&req, "tenant_key");
            let Some(app) = state
                .oauth
                .store_apps
                .values_mut()
                .find(|a| a.app_tokens.iter().any(|t| t == app_token))
            else {
                return error_response(400, 99991664, "app_access_token invalid", log_id, None);
            };
            if tenant_key.is_empty() {
                return error_response(400, 10003, "invalid param", log_id, None);
            }
            let token = format!("t-{}", util::random_hex(2));
            app.tenant_tokens
                .insert(token.clone(), tenant_key.to_owned());
            state.add_token(&token, TokenKind::Tenant, Some(ttl));
            json_response(
                StatusCode::OK,
                &json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": ttl.as_secs()}),
                log_id,
            )
        }
    }
}

/// Percent-encodes everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl OAuth {
    /// A fresh refresh token for `client_id` with `scope`, as if a login had made it.
    pub(crate) fn issue_refresh_token(&mut self, client_id: &str, scope: &str) -> String {
        let refresh = format!("r-{}", util::random_hex(2));
        self.refresh_tokens.insert(
            refresh.clone(),
            Refresh {
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
                used: false,
                expires_at: Instant::now() + self.refresh_ttl,
            },
        );
        refresh
    }
}

/// RFC 7636's S256 code challenge of `verifier`: base64url (no padding) of its SHA-256.
fn pkce_s256(verifier: &str) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}
