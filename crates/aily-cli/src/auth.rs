//! `aily auth login | status | logout`, and the user token file every other command
//! uses when it is there.
//!
//! The token file is `AILY_USER_TOKEN_FILE`, else `$XDG_CONFIG_HOME/aily/user-token.json`
//! (`~/.config/aily/user-token.json`). It holds one user's tokens (mode 0600, replaced
//! atomically, rotated under a file lock); with `AILY_REDIS_URL` (feature `redis`)
//! the tokens and the lock live in Redis instead. The app is `FEISHU_APP_ID` and
//! `FEISHU_APP_SECRET`: the refresh needs its secret.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aily_client::auth::{
    FileUserTokenStore, UserInfoRequest, UserKey, UserTokenStore, UserTokens, authorize_url,
    exchange_code, login_state, oauth_base, pkce_challenge, pkce_verifier,
};
use aily_client::transport::BaseUrl;
use aily_client::{Client, ClientBuilder, Credentials, Error, ErrorKind, SecretString};
use clap::{Args, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ConnectionArgs, Failure, refused};

/// The variable naming the token file.
const TOKEN_FILE_VAR: &str = "AILY_USER_TOKEN_FILE";
/// The variable naming the OAuth (accounts) host, when it is not the API host's.
const ACCOUNTS_URL_VAR: &str = "FEISHU_ACCOUNTS_URL";
/// The user label of the CLI's one stored user.
const USER: &str = "default";
/// How long `login` waits for the browser's redirect.
const LOGIN_WAIT: Duration = Duration::from_secs(300);
/// The largest redirect request read.
const MAX_REDIRECT_REQUEST: usize = 16 * 1024;

#[derive(Subcommand, Debug)]
pub(crate) enum AuthCommand {
    /// Log a user in (authorization code + PKCE): prints the URL to open on stderr,
    /// waits for the redirect on 127.0.0.1, stores the tokens in the token file.
    Login(LoginArgs),
    /// Who is logged in and until when (never a token).
    Status(StatusArgs),
    /// Forget the stored user tokens.
    Logout(StatusArgs),
}

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    /// The port of the redirect listener on 127.0.0.1 (default: any free port).
    #[arg(long, value_name = "P", default_value = "0")]
    port: u16,
    /// A scope to ask for (repeat for more); `offline_access` is always added.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
}

fn config(line: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        line: line.into(),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The token file: `AILY_USER_TOKEN_FILE`, else the default under the config directory.
fn token_file() -> Option<PathBuf> {
    if let Some(path) = var(TOKEN_FILE_VAR) {
        return Some(PathBuf::from(path));
    }
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("aily").join("user-token.json"))
}

/// The app's credentials (needed to exchange and refresh).
fn app() -> Result<(String, SecretString), Failure> {
    match (var("FEISHU_APP_ID"), var("FEISHU_APP_SECRET")) {
        (Some(id), Some(secret)) => Ok((id, SecretString::new(secret))),
        _ => Err(config(
            "user tokens need the app: set FEISHU_APP_ID and FEISHU_APP_SECRET",
        )),
    }
}

/// Where the user's tokens live: Redis with `AILY_REDIS_URL` (feature `redis`), else
/// the token file.
fn store(secret: &SecretString) -> Result<(Arc<dyn UserTokenStore>, String), Failure> {
    if let Some(url) = var("AILY_REDIS_URL") {
        #[cfg(feature = "redis")]
        {
            let backend = aily_client::store::redis::RedisBackend::new(
                aily_client::store::redis::RedisConfig::new(url),
            )
            .map_err(refused)?;
            return Ok((
                Arc::new(backend.user_token_store(secret)),
                "redis".to_owned(),
            ));
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = (url, secret);
            return Err(config(
                "AILY_REDIS_URL is set, but this build has no feature `redis`",
            ));
        }
    }
    let path = token_file().ok_or_else(|| {
        config("no token file: set AILY_USER_TOKEN_FILE (or HOME / XDG_CONFIG_HOME)")
    })?;
    let shown = path.display().to_string();
    Ok((Arc::new(FileUserTokenStore::new(path)), shown))
}

/// The base URL the connection arguments name.
fn base_url(args: &ConnectionArgs) -> Result<BaseUrl, Failure> {
    if args.lark && args.base_url.is_some() {
        return Err(Failure::usage(
            "error: --lark and --base-url (or FEISHU_BASE_URL) cannot be used together",
        ));
    }
    match (&args.base_url, args.lark) {
        (Some(url), _) => BaseUrl::parse(url).map_err(refused),
        (None, true) => Ok(BaseUrl::lark()),
        (None, false) => Ok(BaseUrl::feishu()),
    }
}

/// Whether the other commands should use the stored user token, and how: no fixed
/// token is set, and either Redis (`AILY_REDIS_URL`) holds a record of this app's
/// user at this base URL, or the token file is named (`AILY_USER_TOKEN_FILE`) or
/// exists at its default place (after a login).
pub(crate) async fn user_credentials(
    args: &ConnectionArgs,
) -> Result<Option<Credentials>, Failure> {
    if var("FEISHU_USER_ACCESS_TOKEN").is_some() || var("FEISHU_TENANT_ACCESS_TOKEN").is_some() {
        return Ok(None);
    }
    if var("AILY_REDIS_URL").is_some() {
        let Ok((app_id, secret)) = app() else {
            return Ok(None);
        };
        let (store, _) = store(&secret)?;
        let key = UserKey::new(&base_url(args)?.to_string(), &app_id, USER);
        // No record (or Redis not answering): the app's own tenant token, as before.
        return Ok(match store.load(&key).await {
            Ok(Some(_)) => Some(Credentials::user_tokens(app_id, secret, store).for_user(USER)),
            _ => None,
        });
    }
    let named = var(TOKEN_FILE_VAR).is_some();
    let exists = token_file().is_some_and(|p| p.exists());
    if !named && !exists {
        return Ok(None);
    }
    let (app_id, secret) = app()?;
    let (store, _) = store(&secret)?;
    Ok(Some(
        Credentials::user_tokens(app_id, secret, store).for_user(USER),
    ))
}

pub(crate) async fn auth(command: AuthCommand) -> Result<(), Failure> {
    match command {
        AuthCommand::Login(args) => login(args).await,
        AuthCommand::Status(args) => status(args).await,
        AuthCommand::Logout(args) => logout(args).await,
    }
}

async fn login(args: LoginArgs) -> Result<(), Failure> {
    let (app_id, secret) = app()?;
    let base = base_url(&args.connection)?;
    let accounts = match var(ACCOUNTS_URL_VAR) {
        Some(url) => BaseUrl::parse(&url).map_err(refused)?,
        None => oauth_base(&base).unwrap_or_else(|| base.clone()),
    };
    let (store, place) = store(&secret)?;
    let client = ClientBuilder::default()
        .credentials(Credentials::app(app_id.clone(), secret.clone()))
        .base_url(base.to_string())
        .attempt_timeout(args.connection.attempt_timeout)
        .build()
        .map_err(refused)?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| Failure {
            code: 1,
            line: format!("cannot listen on 127.0.0.1:{}: {e}", args.port),
        })?;
    let port = listener.local_addr().map_err(io_failure)?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let verifier = pkce_verifier();
    let state = login_state();
    let scopes: Vec<&str> = args.scopes.iter().map(String::as_str).collect();
    let url = authorize_url(
        &accounts,
        &app_id,
        &redirect,
        &scopes,
        &state,
        &pkce_challenge(verifier.expose()),
    );
    eprintln!("aily: open this URL to log in: {url}");

    let code = tokio::time::timeout(LOGIN_WAIT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| Failure {
            code: 1,
            line: "timeout: no redirect within 5 minutes".to_owned(),
        })??;
    let tokens = exchange_code(
        &client.token_http(),
        &app_id,
        &secret,
        code,
        &redirect,
        &verifier,
    )
    .await?;
    if tokens.refresh_token.is_none() {
        eprintln!("aily: warning: no refresh token came back; the login lasts one access token");
    }
    // Who logged in: the user token's own user_info.
    let who = Client::builder()
        .credentials(Credentials::user_token(tokens.access_token.expose()))
        .base_url(base.to_string())
        .build()
        .map_err(refused)?
        .call(UserInfoRequest::new()?)
        .await?
        .into_data();
    let key = UserKey::new(&base.to_string(), &app_id, USER);
    let mut record = UserTokens::issued(&key, tokens);
    record.open_id = who.open_id;
    record.name = who.name;
    let lock = store
        .lock(&key, Duration::from_secs(30))
        .await
        .map_err(store_failure)?;
    let previous = store.load(&key).await.map_err(store_failure)?;
    record.generation = previous.map_or(1, |p| p.generation.saturating_add(1));
    let saved = store.save(&key, &lock, &record).await;
    let _ = store.unlock(&key, lock).await;
    if !saved.map_err(store_failure)? {
        return Err(Failure {
            code: 1,
            line: "the stored user token changed during the login: log in again".to_owned(),
        });
    }
    print_status(&record, &place);
    Ok(())
}

/// Accepts connections until one is the redirect with our `state`: its `code`.
async fn wait_for_code(
    listener: &tokio::net::TcpListener,
    state: &str,
) -> Result<SecretString, Failure> {
    loop {
        let (mut socket, _) = listener.accept().await.map_err(io_failure)?;
        let mut buffer = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") && buffer.len() < MAX_REDIRECT_REQUEST {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let line = String::from_utf8_lossy(&buffer);
        let target = line
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or_default()
            .to_owned();
        let Some(query) = target.strip_prefix("/callback?") else {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            continue;
        };
        let get = |name: &str| {
            query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| percent_decode(v))
        };
        let (reply, outcome) = match (get("state"), get("code")) {
            (Some(s), Some(code)) if s == state && !code.is_empty() => (
                "Logged in: you can close this tab.",
                Some(Ok(SecretString::new(code))),
            ),
            (Some(s), _) if s == state => (
                "The login was refused.",
                Some(Err(Failure {
                    code: 1,
                    line: format!(
                        "the login was refused ({})",
                        get("error").unwrap_or_default()
                    ),
                })),
            ),
            // Another page's redirect (or a forged one): ignored.
            _ => ("Not this login.", None),
        };
        let body = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
        let _ = socket.write_all(body.as_bytes()).await;
        let _ = socket.shutdown().await;
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn status(args: StatusArgs) -> Result<(), Failure> {
    let (app_id, secret) = app()?;
    let base = base_url(&args.connection)?;
    let (store, place) = store(&secret)?;
    let key = UserKey::new(&base.to_string(), &app_id, USER);
    match store.load(&key).await.map_err(store_failure)? {
        Some(record) => {
            print_status(&record, &place);
            if record.needs_login {
                return Err(Failure {
                    code: 1,
                    line: "the stored user token needs a new login: aily auth login".to_owned(),
                });
            }
            Ok(())
        }
        None => Err(Failure {
            code: 1,
            line: format!("not logged in ({place}): aily auth login"),
        }),
    }
}

async fn logout(args: StatusArgs) -> Result<(), Failure> {
    let (app_id, secret) = app()?;
    let base = base_url(&args.connection)?;
    let (store, place) = store(&secret)?;
    let key = UserKey::new(&base.to_string(), &app_id, USER);
    store.clear(&key).await.map_err(store_failure)?;
    println!(
        "{}",
        serde_json::json!({"logged_out": true, "store": place})
    );
    Ok(())
}

/// Who and until when, as one JSON line: never a token.
fn print_status(record: &UserTokens, place: &str) {
    println!(
        "{}",
        serde_json::json!({
            "open_id": record.open_id,
            "name": record.name,
            "scope": record.scope,
            "access_expires_at": record.access_expires_at,
            "refresh_expires_at": record.refresh_expires_at,
            "can_refresh": record.can_refresh(),
            "needs_login": record.needs_login,
            "store": place,
        })
    );
}

fn io_failure(e: std::io::Error) -> Failure {
    Failure {
        code: 1,
        line: format!("redirect listener: {e}"),
    }
}

fn store_failure(e: aily_client::store::StoreError) -> Failure {
    Failure::from(Error::new(
        ErrorKind::Auth,
        format!("the user token store failed: {e}"),
    ))
}
