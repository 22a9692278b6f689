//! [`Client`] and [`ClientBuilder`]: the one place where the default stack (drawn in
//! the crate docs, [The stack](crate#the-stack)) is assembled — `stack()` and
//! `http_tier()` below.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use pin_project_lite::pin_project;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::api::agents::{
    AgentArtifactResponse, AgentChat, AgentChatAnswer, AgentSession, CheckAgentVisibilityRequest,
    CreateAgentChatRequest, CreateAgentChatResponse, CreateAgentSessionRequest,
    CreateAgentSessionResponse, DeleteAgentSessionRequest, GetAgentArtifactRequest,
    GetAgentChatRequest, GetAgentSessionRequest, ListAgentSessionsRequest,
    UploadAgentAttachmentRequest, UploadAgentAttachmentResponse, VisibilityResponse,
};
use crate::api::app_stats::{AppStat, ListAppStatsRequest};
use crate::api::data_assets::{
    CreateDataAssetRequest, DataAsset, DataAssetResponse, DataAssetTag, DeleteDataAssetRequest,
    GetDataAssetRequest, ListDataAssetTagsRequest, ListDataAssetsRequest, UploadFileRequest,
    UploadFileResponse,
};
use crate::api::messages::{
    CreateMessageRequest, GetMessageRequest, ListMessagesRequest, Message, MessageResponse,
};
use crate::api::paginate;
use crate::api::request::AilyRequest;
use crate::api::runs::{
    CancelRequest, CancelResponse, CreateRunRequest, GetRunRequest, GetRunResponse,
    ListRunsRequest, Run, RunHandle, RunResponse, WaitOptions, cancel_and_wait,
};
use crate::api::sessions::{
    CreateSessionRequest, DeleteSessionRequest, DeleteSessionResponse, GetSessionRequest,
    ListResponse, SessionResponse, UpdateSessionRequest,
};
use crate::api::skills::{
    GetSkillRequest, GetSkillResponse, ListSkillsRequest, Skill, StartSkillRequest,
    StartSkillResponse,
};
use crate::background::{BackgroundCancelStats, BackgroundCancels};
use crate::error::Error;
use crate::layers::api_call::Reply;
use crate::layers::in_flight::InFlightLimitLayer;
use crate::layers::observe::{AttemptLayer, OperationLayer};
use crate::layers::retry::RetryPolicy;
use crate::transport::{BaseUrl, HttpService};

mod builder;
mod env;
mod fleet;
mod stack;

pub use crate::layers::api_call::{AilyService, CancelService};
pub use builder::ClientBuilder;
use stack::DefaultHttp;

/// A client of the Aily OpenAPI. Cheap to clone; clones share the connection pool.
///
/// ```no_run
/// use aily_client::{Client, Credentials};
///
/// # async fn run() -> Result<(), aily_client::Error> {
/// let client = Client::builder()
///     .credentials(Credentials::tenant_token(std::env::var("FEISHU_TENANT_ACCESS_TOKEN").unwrap()))
///     .build()?;
/// let cancelled = client.cancel_run("session_4dfunz7sp1g8m", "run_4dfrxvctjqzzj").await?;
/// println!("{} is {} (log id {:?})", cancelled.run.id, cancelled.run.status, cancelled.log_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    http: DefaultHttp,
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    base_url: BaseUrl,
    token_http: crate::auth::TokenHttp,
    retry: RetryPolicy,
    in_flight: InFlightLimitLayer,
    operation: OperationLayer,
    attempt: AttemptLayer,
    attempt_timeout: Duration,
    overall_timeout: Duration,
    cancels: Arc<BackgroundCancels>,
    rate_limit: crate::layers::rate_limit::RateLimitLayer,
    journal: Option<Arc<crate::journal::Journal>>,
    /// The streaming HTTP tier (see `stack.rs`).
    stream_http: stack::StreamHttp,
}

/// A [`Client`] that does not keep it alive (the run journal's timer task holds one).
#[derive(Clone)]
pub(crate) struct WeakClient {
    http: DefaultHttp,
    settings: std::sync::Weak<Settings>,
}

impl WeakClient {
    /// The client, while a clone of it is alive.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        Some(Client {
            http: self.http.clone(),
            settings: self.settings.upgrade()?,
        })
    }
}

impl Client {
    /// A builder with the defaults: Feishu's base URL, 5 s connect, 10 s attempt and
    /// 30 s overall timeouts, 3 attempts, 1 MiB reply limit.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Cancels run `run_id` of session `session_id`.
    ///
    /// The IDs are validated first; an invalid one fails with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) and nothing is sent.
    ///
    /// The returned future owns what it needs (it does not borrow the client), so it
    /// can be spawned.
    pub fn cancel_run(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<CancelResponse>, Error>> + Send + 'static {
        let call = self.call_checked(CancelRequest::new(session_id, run_id));
        crate::journal::settle_on_reply(self.journal().cloned(), call, |_| true)
    }

    /// Reads run `run_id` of session `session_id`: its status now.
    pub fn get_run(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<GetRunResponse>, Error>> + Send + 'static {
        let call = self.call_checked(GetRunRequest::new(session_id, run_id));
        crate::journal::settle_on_reply(self.journal().cloned(), call, |run| {
            run.status.is_terminal()
        })
    }

    /// Cancels the run, then reads it until its status is terminal (`CANCELLED`,
    /// `COMPLETED`, `FAILED`, `EXPIRED`), reads spaced 250 ms growing to 2 s, for at
    /// most 30 s (see [`WaitOptions`]). At the deadline the error is a
    /// [`TimeoutKind::Wait`](crate::TimeoutKind::Wait) timeout carrying the last run
    /// seen ([`Error::last_run`]).
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// let done = client
    ///     .cancel_and_wait("session_1", "run_1", aily_client::WaitOptions::new())
    ///     .await?;
    /// assert!(done.run.status.is_terminal());
    /// # Ok(()) }
    /// ```
    pub async fn cancel_and_wait(
        &self,
        session_id: impl AsRef<str>,
        run_id: impl AsRef<str>,
        options: WaitOptions,
    ) -> Result<Reply<RunResponse>, Error> {
        cancel_and_wait(
            self.cancel_service(),
            self.get_run_service(),
            session_id,
            run_id,
            options,
        )
        .await
    }

    /// Creates a session (`POST /open-apis/aily/v1/sessions`). Not retried after it
    /// may have reached the server unless the request opts in.
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use aily_client::sessions::CreateSessionRequest;
    /// let created = client.create_session(CreateSessionRequest::new()).await?;
    /// println!("{}", created.session.id);
    /// # Ok(()) }
    /// ```
    pub fn create_session(
        &self,
        request: CreateSessionRequest,
    ) -> impl Future<Output = Result<Reply<SessionResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Reads session `session_id`.
    pub fn get_session(
        &self,
        session_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<SessionResponse>, Error>> + Send + 'static {
        self.call_checked(GetSessionRequest::new(session_id))
    }

    /// Changes a session's `channel_context` or `metadata`.
    pub fn update_session(
        &self,
        request: UpdateSessionRequest,
    ) -> impl Future<Output = Result<Reply<SessionResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Deletes session `session_id`.
    pub fn delete_session(
        &self,
        session_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<DeleteSessionResponse>, Error>> + Send + 'static {
        self.call_checked(DeleteSessionRequest::new(session_id))
    }

    /// Posts a message to a session; safe to retry (its `idempotent_id`).
    pub fn create_message(
        &self,
        request: CreateMessageRequest,
    ) -> impl Future<Output = Result<Reply<MessageResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Reads message `message_id` of session `session_id`.
    pub fn get_message(
        &self,
        session_id: impl AsRef<str>,
        message_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<MessageResponse>, Error>> + Send + 'static {
        self.call_checked(GetMessageRequest::new(session_id, message_id))
    }

    /// One page of a session's messages.
    pub fn list_messages(
        &self,
        request: ListMessagesRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<Message>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every message of every page of `request`, in order (see [`paginate::pages`]).
    pub fn messages_stream(
        &self,
        request: ListMessagesRequest,
    ) -> impl Stream<Item = Result<Message, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListMessagesRequest>(), request)
    }

    /// Starts a run on a session. Not retried after it may have reached the server
    /// unless the request opts in; the error then says the run may exist. With a run
    /// journal ([`ClientBuilder::journal`]), the run is recorded before the request is
    /// sent (see [`crate::journal`]).
    pub fn create_run(
        &self,
        request: CreateRunRequest,
    ) -> impl Future<Output = Result<Reply<RunResponse>, Error>> + Send + 'static {
        crate::journal::around_create(self, request)
    }

    /// The call of a create-run request through the default stack, not journaled.
    pub(crate) fn create_run_unjournaled(
        &self,
        request: CreateRunRequest,
    ) -> impl Future<Output = Result<Reply<RunResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// The client's run journal, when it has one.
    pub(crate) fn journal(&self) -> Option<&Arc<crate::journal::Journal>> {
        self.settings.journal.as_ref()
    }

    /// This client without keeping it alive.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient {
            http: self.http.clone(),
            settings: Arc::downgrade(&self.settings),
        }
    }

    /// Run `run_id` needs no cancel from this process any more: its journal entry (if
    /// any) is completed.
    pub(crate) fn journal_run_settled(&self, run_id: &str) {
        if let Some(journal) = self.journal() {
            journal.run_settled(run_id);
        }
    }

    /// One page of a session's runs.
    pub fn list_runs(
        &self,
        request: ListRunsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<Run>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every run of every page of `request`, in order (see [`paginate::pages`]).
    pub fn runs_stream(
        &self,
        request: ListRunsRequest,
    ) -> impl Stream<Item = Result<Run, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListRunsRequest>(), request)
    }

    /// Reads skill `skill_id` of Aily app `app_id`.
    pub fn get_skill(
        &self,
        app_id: impl AsRef<str>,
        skill_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<GetSkillResponse>, Error>> + Send + 'static {
        self.call_checked(GetSkillRequest::new(app_id, skill_id))
    }

    /// One page of an app's skills.
    pub fn list_skills(
        &self,
        request: ListSkillsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<Skill>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every skill of every page of `request`, in order (see [`paginate::pages`]).
    pub fn skills_stream(
        &self,
        request: ListSkillsRequest,
    ) -> impl Stream<Item = Result<Skill, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListSkillsRequest>(), request)
    }

    /// Runs a skill and answers with its output (`POST …/apps/:app_id/skills/:skill_id/start`).
    /// Not retried after it may have reached the server unless the request opts in
    /// (the skill would run twice); a rate-limit refusal is retried. The reply takes
    /// the skill's run time: give the request its own timeout.
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use aily_client::AilyRequest;
    /// use aily_client::skills::StartSkillRequest;
    /// let request = StartSkillRequest::new("spring_1__c", "skill_weather")?
    ///     .query_text("Will it rain?")?
    ///     .with_overall_timeout(std::time::Duration::from_secs(120));
    /// let reply = client.start_skill(request).await?;
    /// println!("{:?}", reply.output_json());
    /// # Ok(()) }
    /// ```
    pub fn start_skill(
        &self,
        request: StartSkillRequest,
    ) -> impl Future<Output = Result<Reply<StartSkillResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Uploads a file for a data asset (dev environment); its token feeds
    /// [`FileSource::uploaded`](crate::data_assets::FileSource::uploaded). Not
    /// retried after it may have reached the server unless the request opts in.
    pub fn upload_data_asset_file(
        &self,
        request: UploadFileRequest,
    ) -> impl Future<Output = Result<Reply<UploadFileResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Creates a data asset (dev environment). Not retried after it may have
    /// reached the server unless the request opts in.
    pub fn create_data_asset(
        &self,
        request: CreateDataAssetRequest,
    ) -> impl Future<Output = Result<Reply<DataAssetResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Reads a data asset (with the request's `with_*` flags).
    pub fn get_data_asset(
        &self,
        request: GetDataAssetRequest,
    ) -> impl Future<Output = Result<Reply<DataAssetResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Deletes data asset `data_asset_id` of app `app_id` (dev environment); the
    /// reply is the deleted asset.
    pub fn delete_data_asset(
        &self,
        app_id: impl AsRef<str>,
        data_asset_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<DataAssetResponse>, Error>> + Send + 'static {
        self.call_checked(DeleteDataAssetRequest::new(app_id, data_asset_id))
    }

    /// One page of an app's data assets.
    pub fn list_data_assets(
        &self,
        request: ListDataAssetsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<DataAsset>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every data asset of every page of `request`, in order (see [`paginate::pages`]).
    pub fn data_assets_stream(
        &self,
        request: ListDataAssetsRequest,
    ) -> impl Stream<Item = Result<DataAsset, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListDataAssetsRequest>(), request)
    }

    /// One page of an app's data-asset tags.
    pub fn list_data_asset_tags(
        &self,
        request: ListDataAssetTagsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<DataAssetTag>>, Error>> + Send + 'static
    {
        self.start(request)
    }

    /// Every data-asset tag of every page of `request`, in order (see [`paginate::pages`]).
    pub fn data_asset_tags_stream(
        &self,
        request: ListDataAssetTagsRequest,
    ) -> impl Stream<Item = Result<DataAssetTag, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListDataAssetTagsRequest>(), request)
    }

    /// Starts a run and hands back its [`RunHandle`]: dropped before the run ends, it
    /// cancels the run in the background.
    pub async fn create_run_handle(&self, request: CreateRunRequest) -> Result<RunHandle, Error> {
        let session_id = request.id(0).to_owned();
        let created = self.create_run(request).await?;
        RunHandle::new(self.clone(), session_id, created.into_data().run)
    }

    /// What the background cancels of this client (and its clones) have done.
    pub fn background_cancels(&self) -> BackgroundCancelStats {
        self.settings.cancels.stats()
    }

    /// Waits until every background cancel of this client is done and its worker
    /// task has ended: call it before a service exits, so it leaves no run behind.
    /// Bounded by [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::background::DEFAULT_SHUTDOWN_TIMEOUT)
    /// (15 s): past it, the cancels still pending are logged and left. Cancels whose
    /// runtime was dropped are run on the runtime this is awaited on.
    pub async fn shutdown(&self) {
        self.shutdown_within(crate::background::DEFAULT_SHUTDOWN_TIMEOUT)
            .await;
    }

    /// [`shutdown`](Client::shutdown) bounded by `bound`: `true` when every
    /// background cancel was done in time, `false` when some were still pending at
    /// the bound (they are logged at WARN and left).
    pub async fn shutdown_within(&self, bound: Duration) -> bool {
        self.settings
            .cancels
            .drain(|| self.run_calls(), bound)
            .await
    }

    /// Queues a cancel of a run whose owner went away (never blocks).
    pub(crate) fn cancel_in_background(
        &self,
        runtime: Option<&tokio::runtime::Handle>,
        session_id: &str,
        run: crate::background::Target,
    ) {
        self.settings
            .cancels
            .enqueue(|| self.run_calls(), runtime, session_id, run);
    }

    /// The services a background cancel calls.
    fn run_calls(&self) -> crate::background::RunCalls {
        crate::background::RunCalls {
            cancel: self.service(),
            list_runs: self.service(),
            unnamed_settled: self.journal().cloned().map(|journal| {
                Arc::new(move |session_id: &str| journal.unnamed_settled(session_id))
                    as crate::background::SessionHook
            }),
        }
    }

    /// Sends any typed request through the default stack.
    pub fn call<R: AilyRequest>(
        &self,
        request: R,
    ) -> impl Future<Output = Result<Reply<R::Response>, Error>> + Send + 'static {
        self.start(request)
    }

    /// The future of one call of the default stack. Nothing runs until it is first
    /// polled (tower's `Oneshot` readies the stack, then calls it), so the future may
    /// be made outside a tokio runtime and run inside one.
    fn start<R: AilyRequest>(
        &self,
        request: R,
    ) -> CallFuture<impl Future<Output = Result<Reply<R::Response>, Error>> + Send + 'static> {
        CallFuture::Call {
            future: self.stack::<R>().oneshot(request),
        }
    }

    /// A call of a request that may have failed validation: the error at once, or the
    /// call. No `async` frame around the stack's future, so nothing is copied twice.
    fn call_checked<R: AilyRequest>(
        &self,
        request: Result<R, Error>,
    ) -> impl Future<Output = Result<Reply<R::Response>, Error>> + Send + 'static {
        match request {
            Ok(request) => self.start(request),
            Err(error) => CallFuture::Invalid { error: Some(error) },
        }
    }

    /// Sends `request` to be streamed (`Accept: text/event-stream`) through the typed
    /// tier over the streaming HTTP tier (see [the streaming call path](crate::sse#the-streaming-call-path)),
    /// and answers at the response headers: [`Opened::Events`](crate::sse::Opened::Events)
    /// with the unread body of an event-stream reply, or `R`'s decoding of any other
    /// success. An error reply is the same [`Error`] as on any call.
    ///
    /// The attempt timeout is the stream's open timeout: the request's
    /// [`StreamConfig`](crate::sse::StreamConfig) (an extension) says it, 10 s by
    /// default, unless the request sets its own attempt timeout. A request that is not
    /// idempotent is sent again only after a connect error or a rate-limit refusal.
    pub fn open_stream<R: AilyRequest>(
        &self,
        request: R,
    ) -> impl Future<Output = Result<Reply<crate::sse::Opened<R::Response>>, Error>> + Send + 'static
    {
        let open = request
            .options()
            .extensions()
            .get::<crate::sse::StreamConfig>()
            .copied()
            .unwrap_or_default()
            .open_timeout_value();
        let request = match request.options().attempt_timeout() {
            Some(_) => request,
            None => request.with_attempt_timeout(open),
        };
        let tier =
            self.typed_tier::<crate::sse::StreamRequest<R>, _>(self.settings.stream_http.clone());
        CallFuture::Call {
            future: tier.oneshot(crate::sse::StreamRequest::new(request)),
        }
    }

    /// The overall timeout of a call of `options`: its own, else the client's.
    pub(crate) fn overall_timeout_of(&self, options: &crate::RequestOptions) -> Duration {
        options
            .overall_timeout()
            .unwrap_or(self.settings.overall_timeout)
    }

    /// The cancel-run service of the default stack, for composing into your own tower stack.
    /// Building it spawns nothing.
    ///
    /// ```
    /// use aily_client::{CancelRequest, CancelService, Client, Credentials};
    /// use tower::{Service, ServiceBuilder, ServiceExt};
    ///
    /// # fn main() -> Result<(), aily_client::Error> {
    /// let client = Client::builder().credentials(Credentials::tenant_token("t-x")).build()?;
    /// let svc: CancelService = client.cancel_service();
    /// let limited = ServiceBuilder::new().concurrency_limit(8).service(svc);
    /// # let _ = limited;
    /// # Ok(()) }
    /// ```
    pub fn cancel_service(&self) -> CancelService {
        self.service::<CancelRequest>()
    }

    /// The get-run service of the default stack.
    pub fn get_run_service(&self) -> AilyService<GetRunRequest> {
        self.service::<GetRunRequest>()
    }

    /// The typed service of the default stack for request type `R`, erased
    /// (`Clone + Send + Sync`, no worker task).
    ///
    /// The stack, outer to inner, is drawn in the crate docs, [The stack](crate#the-stack);
    /// `stack()` (the typed tier) and `http_tier()` (shared by every typed service of
    /// a client and its clones) below build it. Every layer is public, so the same
    /// stack can be rebuilt (and extended) in your own [`tower::ServiceBuilder`] over
    /// [`http_service`](Client::http_service) — see `examples/custom_stack.rs`.
    pub fn service<R: AilyRequest>(&self) -> AilyService<R> {
        BoxCloneSyncService::new(self.stack::<R>())
    }

    /// The HTTP tier of this client (auth, base URI, body collection, connection pool),
    /// to build your own typed stack on.
    pub fn http_service(&self) -> HttpService {
        HttpService::new(self.http.clone())
    }

    /// Where this client sends token requests: its transport without auth, to its
    /// base URL, under the attempt timeout and the attempt observers (see
    /// [`TokenHttp`](crate::auth::TokenHttp)). For a login
    /// ([`exchange_code`](crate::auth::exchange_code)) or your own token source.
    pub fn token_http(&self) -> crate::auth::TokenHttp {
        self.settings.token_http.clone()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &BaseUrl {
        &self.settings.base_url
    }
}

/// App stats and the agents (`aily_client::{app_stats, agents}`).
impl Client {
    /// One page of the tenant's app stats (a tenant-token call).
    pub fn list_app_stats(
        &self,
        request: ListAppStatsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<AppStat>>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Every app stat of every page of `request`, in order (see [`paginate::pages`]).
    pub fn app_stats_stream(
        &self,
        request: ListAppStatsRequest,
    ) -> impl Stream<Item = Result<AppStat, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListAppStatsRequest>(), request)
    }

    /// Creates an agent chat. Never retried once it may have reached the server
    /// unless the request opts in; most callers want [`agent_chat`](Client::agent_chat).
    pub fn create_agent_chat(
        &self,
        request: CreateAgentChatRequest,
    ) -> impl Future<Output = Result<Reply<CreateAgentChatResponse>, Error>> + Send + 'static {
        self.start(request)
    }

    /// Reads chat `agent_chat_id` of agent `agent_id`: its content and status now.
    pub fn get_agent_chat(
        &self,
        agent_id: impl AsRef<str>,
        agent_chat_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<AgentChat>, Error>> + Send + 'static {
        self.call_checked(GetAgentChatRequest::new(agent_id, agent_chat_id))
    }

    /// Creates the chat in the background and reads it until it is done, reads 1 s
    /// apart growing to 5 s, for at most 5 minutes ([`WaitOptions::for_agent_chat`];
    /// see [`agents::agent_chat`](crate::agents::agent_chat)).
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use aily_client::agents::CreateAgentChatRequest;
    /// let answer = client.agent_chat(CreateAgentChatRequest::new("agent_1", "Hi")?).await?;
    /// println!("{}", answer.text);
    /// # Ok(()) }
    /// ```
    pub async fn agent_chat(
        &self,
        request: CreateAgentChatRequest,
    ) -> Result<AgentChatAnswer, Error> {
        self.agent_chat_with(request, WaitOptions::for_agent_chat())
            .await
    }

    /// [`agent_chat`](Client::agent_chat) waiting as `options` say.
    pub async fn agent_chat_with(
        &self,
        request: CreateAgentChatRequest,
        options: WaitOptions,
    ) -> Result<AgentChatAnswer, Error> {
        crate::api::agents::agent_chat(self.stack(), self.stack(), request, options).await
    }

    /// Creates an agent session. Not retried once it may have reached the server
    /// unless the request opts in.
    pub fn create_agent_session(
        &self,
        request: CreateAgentSessionRequest,
    ) -> impl Future<Output = Result<Reply<CreateAgentSessionResponse>, Error>> + Send + 'static
    {
        self.start(request)
    }

    /// Reads session `session_id` of agent `agent_id`.
    pub fn get_agent_session(
        &self,
        agent_id: impl AsRef<str>,
        session_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<AgentSession>, Error>> + Send + 'static {
        self.call_checked(GetAgentSessionRequest::new(agent_id, session_id))
    }

    /// One page of an agent's sessions.
    pub fn list_agent_sessions(
        &self,
        request: ListAgentSessionsRequest,
    ) -> impl Future<Output = Result<Reply<ListResponse<AgentSession>>, Error>> + Send + 'static
    {
        self.start(request)
    }

    /// Every session of every page of `request`, in order (see [`paginate::pages`]).
    pub fn agent_sessions_stream(
        &self,
        request: ListAgentSessionsRequest,
    ) -> impl Stream<Item = Result<AgentSession, Error>> + Send + 'static {
        paginate::pages(self.stack::<ListAgentSessionsRequest>(), request)
    }

    /// Deletes session `session_id` of agent `agent_id`.
    pub fn delete_agent_session(
        &self,
        agent_id: impl AsRef<str>,
        session_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<DeleteSessionResponse>, Error>> + Send + 'static {
        self.call_checked(DeleteAgentSessionRequest::new(agent_id, session_id))
    }

    /// Uploads an attachment (multipart). Not retried once it may have reached the
    /// server unless the request opts in.
    pub fn upload_agent_attachment(
        &self,
        request: UploadAgentAttachmentRequest,
    ) -> impl Future<Output = Result<Reply<UploadAgentAttachmentResponse>, Error>> + Send + 'static
    {
        self.start(request)
    }

    /// Reads artifact `artifact_id` of agent `agent_id` (its URL is valid 24 h).
    pub fn get_agent_artifact(
        &self,
        agent_id: impl AsRef<str>,
        artifact_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<AgentArtifactResponse>, Error>> + Send + 'static {
        self.call_checked(GetAgentArtifactRequest::new(agent_id, artifact_id))
    }

    /// Whether the token's user may see agent `agent_id` (a user-token call).
    pub fn check_agent_visibility(
        &self,
        agent_id: impl AsRef<str>,
    ) -> impl Future<Output = Result<Reply<VisibilityResponse>, Error>> + Send + 'static {
        self.call_checked(CheckAgentVisibilityRequest::new(agent_id))
    }
}

pin_project! {
    /// The future of a [`Client`] call: the call, or the request's validation error
    /// at once.
    #[project = CallFutureProj]
    enum CallFuture<F> {
        Call { #[pin] future: F },
        Invalid { error: Option<Error> },
    }
}

impl<F, T> Future for CallFuture<F>
where
    F: Future<Output = Result<T, Error>>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallFutureProj::Call { future } => future.poll(cx),
            CallFutureProj::Invalid { error } => Poll::Ready(Err(error
                .take()
                .expect("a call's future is not polled after it is ready"))),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.settings.base_url)
            .field("attempt_timeout", &self.settings.attempt_timeout)
            .field("overall_timeout", &self.settings.overall_timeout)
            .finish_non_exhaustive()
    }
}
