//! Store (ISV) apps: the `app_ticket` Feishu pushes every hour, the app access token
//! it buys, and a tenant access token per installing tenant (`tenant_key`).
//!
//! - Your event handler hands each `app_ticket` event's ticket to
//!   [`StoreApp::set_app_ticket`].
//! - [`StoreApp::tenant`] gives the [`TenantTokenSource`] of one tenant, made once per
//!   tenant key and cached under it: two tenants never share a token (the cache key
//!   *is* the tenant key).
//! - The app access token is cached like a tenant token (single flight, refresh
//!   ahead), shared by every tenant's source.
//! - Feishu answering 10012 (the ticket is invalid) makes the app ask for a new push
//!   (`app_ticket/resend`) — once per ticket, however many calls see the 10012 — and
//!   the call fails as "retry once the ticket arrives".

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::exchange::{
    FetchAppTokenRequest, FetchStoreTenantTokenRequest, IssuedToken, ResendAppTicketRequest,
    TokenHttp,
};
use super::tenant::{Fetcher, TenantTokenSource};
use super::token::SecretString;
use crate::error::{Error, ErrorKind};
use crate::layers::api_call::Reply;

/// Feishu's code for an invalid (or missing) `app_ticket`.
pub const CODE_APP_TICKET_INVALID: i64 = 10012;

/// A store app: its credentials, its latest `app_ticket` and the tenant token
/// sources of the tenants it serves. Cheap to clone; clones share everything.
///
/// ```
/// use std::time::Duration;
/// use aily_client::auth::{StoreApp, TokenHttp};
/// use aily_client::transport::{BaseUriLayer, BaseUrl, CollectBodyLayer, HttpService, TransportConfig, hyper_client};
/// use aily_client::{Client, Credentials};
/// use tower::ServiceBuilder;
///
/// let plain = ServiceBuilder::new()
///     .layer(BaseUriLayer::new(BaseUrl::feishu()))
///     .layer(CollectBodyLayer::default())
///     .service(hyper_client(&TransportConfig::default())?);
/// let app = StoreApp::new("cli_store", "app-secret", TokenHttp::new(HttpService::new(plain), Duration::from_secs(10)));
/// // In the `app_ticket` event handler:
/// app.set_app_ticket("ticket-from-the-event");
/// // One client per tenant, each with its own tenant's token.
/// let client = Client::builder().credentials(Credentials::source(app.tenant("tenant_key_1")?)).build()?;
/// # let _ = client;
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct StoreApp {
    core: Arc<Core>,
    /// The app access token, cached like a tenant token.
    app_token: TenantTokenSource,
    tenants: Arc<Mutex<HashMap<String, TenantTokenSource>>>,
    refresh_margin: Duration,
}

/// What the app token's fetcher and every tenant's need.
pub(crate) struct Core {
    app_id: String,
    app_secret: SecretString,
    ticket: RwLock<Option<SecretString>>,
    /// The ticket a resend was last asked for (`Some(None)`: for no ticket at all).
    resent_for: Mutex<Option<Option<SecretString>>>,
    resends: std::sync::atomic::AtomicU64,
    http: TokenHttp,
}

impl StoreApp {
    /// Store app `app_id` with `app_secret`; its token requests go through `http` (to
    /// the API's base URL), refreshed 3 minutes before they expire.
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<SecretString>,
        http: TokenHttp,
    ) -> Self {
        let core = Arc::new(Core {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            ticket: RwLock::new(None),
            resent_for: Mutex::new(None),
            resends: Default::default(),
            http: http.clone(),
        });
        let refresh_margin = super::DEFAULT_REFRESH_MARGIN;
        StoreApp {
            app_token: TenantTokenSource::from_fetcher(
                core.app_id.clone(),
                Fetcher::AppToken(core.clone()),
                http,
                refresh_margin,
            ),
            core,
            tenants: Arc::default(),
            refresh_margin,
        }
    }

    /// The app's ID.
    pub fn app_id(&self) -> &str {
        &self.core.app_id
    }

    /// The latest `app_ticket` (from the `app_ticket` event; Feishu pushes one every
    /// hour, and on request after a 10012). Empty tickets are ignored.
    pub fn set_app_ticket(&self, ticket: impl Into<SecretString>) {
        let ticket = ticket.into();
        if ticket.expose().is_empty() {
            return;
        }
        *self
            .core
            .ticket
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(ticket);
    }

    /// How many ticket resends this app asked for.
    pub fn ticket_resends(&self) -> u64 {
        self.core.resends.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The tenant token source of tenant `tenant_key` (1–255 bytes): the same source
    /// for the same key, a different one — with its own cache — for every other.
    pub fn tenant(&self, tenant_key: &str) -> Result<TenantTokenSource, Error> {
        if tenant_key.is_empty() || tenant_key.len() > 255 {
            return Err(Error::invalid_input(
                "the tenant_key must be 1 to 255 bytes",
            ));
        }
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        let source = tenants.entry(tenant_key.to_owned()).or_insert_with(|| {
            TenantTokenSource::from_fetcher(
                self.core.app_id.clone(),
                Fetcher::Store {
                    app_token: self.app_token.clone(),
                    core: self.core.clone(),
                    tenant_key: tenant_key.to_owned(),
                },
                self.core.http.clone(),
                self.refresh_margin,
            )
        });
        Ok(source.clone())
    }
}

impl Core {
    /// `app_access_token` with the current ticket; a 10012 (or no ticket yet) asks for
    /// a resend, once per ticket.
    pub(crate) async fn fetch_app_token(&self) -> Result<Reply<IssuedToken>, Error> {
        let ticket = self
            .ticket
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(ticket) = ticket else {
            self.resend_once(None).await;
            return Err(Error::new(
                ErrorKind::Auth,
                "no app_ticket yet: a resend was asked for; retry once the app_ticket event arrives",
            ));
        };
        let request = FetchAppTokenRequest::new(&self.app_id, &self.app_secret, &ticket)?;
        match self.http.send(request).await {
            Err(e) if e.code() == Some(CODE_APP_TICKET_INVALID) => {
                self.resend_once(Some(ticket)).await;
                Err(Error::new(
                    ErrorKind::Auth,
                    "the app_ticket is invalid (10012): a resend was asked for; retry once the app_ticket event arrives",
                )
                .with_api(CODE_APP_TICKET_INVALID, "app ticket invalid".to_owned(), None)
                .with_log_id(e.log_id().map(str::to_owned)))
            }
            other => other,
        }
    }

    /// Asks Feishu to push the ticket again, unless a resend was already asked for
    /// this ticket. A failed resend is logged: the call fails anyway.
    async fn resend_once(&self, ticket: Option<SecretString>) {
        {
            let mut last = self
                .resent_for
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.as_ref() == Some(&ticket) {
                return;
            }
            *last = Some(ticket);
        }
        self.resends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sent = match ResendAppTicketRequest::new(&self.app_id, &self.app_secret) {
            Ok(request) => self.http.send(request).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(app_id = %self.app_id, error = %e, "app_ticket resend failed");
        }
    }
}

/// A tenant's token: the app token (cached), then `tenant_access_token` for the key.
pub(crate) async fn fetch_tenant_token(
    app_token: &TenantTokenSource,
    core: &Core,
    tenant_key: &str,
) -> Result<Reply<IssuedToken>, Error> {
    // Boxed (`TokenSource::token`): the app token source is a `TenantTokenSource` too.
    let app = super::TokenSource::token(app_token).await?;
    let request = FetchStoreTenantTokenRequest::new(&SecretString::new(app.secret()), tenant_key)?;
    let sent = core.http.send(request).await;
    if let Err(e) = &sent
        && e.code() == Some(crate::api::envelope::CODE_APP_TOKEN_INVALID)
    {
        // The next fetch buys a new app token.
        super::TokenSource::invalidate(app_token, &app);
    }
    sent
}

impl fmt::Debug for StoreApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreApp")
            .field("app_id", &self.core.app_id)
            .field("app_secret", &format_args!("<redacted>"))
            .finish_non_exhaustive()
    }
}
