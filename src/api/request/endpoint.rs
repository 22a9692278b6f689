//! [`Endpoint`] and [`ApiRequest`]: an endpoint is an [`Operation`] with its reply
//! and body types; `ApiRequest<E>` is its request — a path, a query, a typed body and
//! the options — with the one `AilyRequest` impl that every such endpoint shares.

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AilyRequest, ApiPath, JSON_CONTENT_TYPE, Operation, Query, RequestOptions, http_request,
};
use crate::api::envelope;
use crate::error::Error;
use crate::transport::RequestBody;

/// An endpoint: an [`Operation`] (declared with [`operation!`](crate::operation!)),
/// what its reply's `data` is, what its body is, and whether a request that may have
/// reached the server may be sent again.
///
/// The reply is decoded for you: `data` as [`Response`](Endpoint::Response), by its
/// `Deserialize` ([`envelope::decode`](crate::api::envelope::decode)), or the
/// [`Error`] the envelope describes. The log id and the HTTP status travel beside it,
/// in the [`Reply`](crate::layers::api_call::Reply).
///
/// ```
/// use aily_client::request::{ApiRequest, Endpoint};
///
/// aily_client::operation! {
///     /// Lists an app's skills.
///     pub ListSkills = "aily.skill.list", GET "/open-apis/aily/v1/apps/{app_id}/skills"
/// }
///
/// /// The reply's `data`: `{"skills": [...]}`.
/// #[derive(Debug, serde::Deserialize)]
/// pub struct Skills { skills: Vec<serde_json::Value> }
///
/// impl Endpoint for ListSkills {
///     type Response = Skills;
///     type Body = ();
/// }
///
/// let request = ApiRequest::<ListSkills>::with_ids(&["spring_1__c"])?;
/// assert_eq!(aily_client::AilyRequest::to_http(&request).uri(), "/open-apis/aily/v1/apps/spring_1__c/skills");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub trait Endpoint: Operation {
    /// The reply's `data`, as its `Deserialize` reads it (a type that deserializes
    /// from `null`, such as `()`, for a reply without data).
    type Response: DeserializeOwned + Send + 'static;
    /// The body (`()` for an endpoint that sends none): any `Serialize` type is sent
    /// as JSON; a [`Multipart`](crate::api::multipart::Multipart) form as
    /// `multipart/form-data` (see [`Payload`]).
    type Body: Payload;
    /// Whether a request that may have reached the server (a reset connection, HTTP
    /// 500/502/503/504, an attempt timeout) is sent again unless the caller says
    /// otherwise ([`AilyRequest::with_idempotent`]). Reads, `PUT`, `DELETE` and
    /// requests with an idempotency key are; creating a session or a run is not.
    const IDEMPOTENT: bool = true;
    /// What this endpoint's documented error codes mean **here**: Feishu gives one
    /// code different meanings on different endpoints (2700034 is "asking is
    /// disabled" on knowledge ask and "unsupported file type" on upload), so the table
    /// is the endpoint's, never global. An error reply with one of these codes says
    /// the meaning in its message ([`Error::message`]); its kind stays what the
    /// envelope says ([`Api`](crate::ErrorKind::Api) for a business code).
    const ERROR_CODES: &'static [(i64, &'static str)] = &[];

    /// The body's bytes, once per attempt: [`Payload::encode`] by default; an
    /// endpoint whose body never changes may hand out static bytes instead.
    fn encode_body(body: &Self::Body) -> Bytes {
        body.encode()
    }
}

/// A request body: its bytes and their `Content-Type`. Every `Serialize` type is one
/// (JSON, `application/json; charset=utf-8`); so is a
/// [`Multipart`](crate::api::multipart::Multipart) form.
///
/// ```
/// use aily_client::request::Payload;
/// assert_eq!(&Payload::encode(&vec!["a"])[..], br#"["a"]"#);
/// assert_eq!(Payload::content_type(&vec!["a"]), "application/json; charset=utf-8");
/// ```
pub trait Payload: Clone + fmt::Debug + Send + Sync + 'static {
    /// The body's bytes.
    fn encode(&self) -> Bytes;
    /// The body's `Content-Type`.
    fn content_type(&self) -> HeaderValue;
}

impl<T: Serialize + Clone + fmt::Debug + Send + Sync + 'static> Payload for T {
    fn encode(&self) -> Bytes {
        json_body(self)
    }

    fn content_type(&self) -> HeaderValue {
        HeaderValue::from_static(JSON_CONTENT_TYPE)
    }
}

/// What [`ApiRequest`] needs of an endpoint: its reply type and how a complete reply
/// decodes into it, its body and how it is encoded, whether it may be sent again.
///
/// Every [`Endpoint`] is one: its reply is Feishu's envelope, decoded by
/// [`envelope::decode`]. Implement this trait yourself only for a reply that is not
/// that envelope — the token endpoints' flat `{code, msg, tenant_access_token,
/// expire}` replies are ([`crate::auth`]).
pub trait RawEndpoint: Operation {
    /// The typed reply.
    type Response: Send + 'static;
    /// The body (`()` for an endpoint that sends none), as [`Endpoint::Body`].
    type Body: Payload;
    /// As [`Endpoint::IDEMPOTENT`].
    const IDEMPOTENT: bool = true;

    /// Decodes a complete reply into the typed reply, or the [`Error`] it describes.
    fn decode(response: Response<Bytes>) -> Result<Self::Response, Error>;

    /// The body's bytes, once per attempt.
    fn encode_body(body: &Self::Body) -> Bytes {
        body.encode()
    }
}

/// Every [`Endpoint`]: its envelope's `data`, decoded by [`envelope::decode`].
impl<E: Endpoint> RawEndpoint for E {
    type Response = <E as Endpoint>::Response;
    type Body = <E as Endpoint>::Body;
    const IDEMPOTENT: bool = <E as Endpoint>::IDEMPOTENT;

    fn decode(response: Response<Bytes>) -> Result<Self::Response, Error> {
        envelope::decode(&response).map_err(|error| error.with_code_meaning(E::ERROR_CODES))
    }

    fn encode_body(body: &Self::Body) -> Bytes {
        <E as Endpoint>::encode_body(body)
    }
}

/// `serde_json`'s encoding of a typed body (strings, numbers and lists always
/// serialize; `{}` were one not to).
fn json_body<B: Serialize>(body: &B) -> Bytes {
    Bytes::from(serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()))
}

/// A request of endpoint `E`: its path (IDs validated and encoded once), its query,
/// its typed body and its options. Cloning one (which retry needs) counts references
/// and clones the body.
pub struct ApiRequest<E: RawEndpoint> {
    path: ApiPath,
    /// Boxed: only list requests carry one, and every layer moves the request.
    query: Option<Box<Query>>,
    body: Option<E::Body>,
    options: RequestOptions,
}

impl<E: RawEndpoint> ApiRequest<E> {
    /// A request to the operation's URL template with its placeholders filled by
    /// `ids`, in order ([`ApiPath::from_template`]), with no query and no body: the
    /// path is said once, in [`operation!`](crate::operation!).
    ///
    /// An `{app_id}` that starts with `cli_` is the calling app's ID, not an Aily
    /// app's (`spring_…__c`) — a common mix-up: it is sent as given (an ID format is
    /// the server's to judge) and a `WARN` event says so.
    pub fn with_ids(ids: &[&str]) -> Result<Self, Error> {
        let path = ApiPath::from_parsed(&E::TEMPLATE, ids)?;
        for (name, id) in E::TEMPLATE.placeholders().zip(ids) {
            if name == "app_id" && id.starts_with("cli_") {
                tracing::warn!(
                    target: "aily_client::request",
                    app_id = %id,
                    operation = E::NAME,
                    "app_id {id:?} looks like the calling app's ID (cli_…), not an Aily app's (spring_…__c): the Aily app's ID is in its URL on aily.feishu.cn"
                );
            }
        }
        Ok(ApiRequest::at(path))
    }

    /// A request to `path` with no query and no body.
    pub fn at(path: ApiPath) -> Self {
        ApiRequest {
            path,
            query: None,
            body: None,
            options: RequestOptions::default(),
        }
    }

    /// The same request with this JSON body.
    pub fn with_body(mut self, body: E::Body) -> Self {
        self.body = Some(body);
        self
    }

    /// The encoded path, without the query.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The path's `index`-th ID, as given (see [`ApiPath::id`]).
    pub fn id(&self, index: usize) -> &str {
        self.path.id(index)
    }

    /// The same request with `key=value` in its query, replacing an earlier `key`.
    pub fn with_query(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.query.get_or_insert_with(Box::default).set(key, value);
        self
    }

    /// The same request with `key=v` in its query once for each of `values`, in order,
    /// replacing an earlier `key`: Feishu's query arrays repeat the key
    /// (`data_asset_ids=a&data_asset_ids=b`). No values leave no `key`.
    ///
    /// ```
    /// use aily_client::skills::ListSkillsRequest;
    /// let req = ListSkillsRequest::new("spring_1__c")?.with_query_values("tag", ["a", "b c"]);
    /// assert_eq!(req.query().as_str(), "tag=a&tag=b%20c");
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn with_query_values<V: AsRef<str>>(
        mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        let query = self.query.get_or_insert_with(Box::default);
        query.remove(key);
        for value in values {
            query.push(key, value);
        }
        self
    }

    /// The query as it will be sent.
    pub fn query(&self) -> &Query {
        static NONE: Query = Query::new();
        self.query.as_deref().unwrap_or(&NONE)
    }

    /// The body, if any.
    pub fn body(&self) -> Option<&E::Body> {
        self.body.as_ref()
    }

    /// The body, to change it.
    pub fn body_mut(&mut self) -> Option<&mut E::Body> {
        self.body.as_mut()
    }
}

impl<E: RawEndpoint> Clone for ApiRequest<E> {
    fn clone(&self) -> Self {
        ApiRequest {
            path: self.path.clone(),
            query: self.query.clone(),
            body: self.body.clone(),
            options: self.options.clone(),
        }
    }
}

impl<E: RawEndpoint> fmt::Debug for ApiRequest<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body is left out: it may hold a user's message.
        f.debug_struct("ApiRequest")
            .field("operation", &E::NAME)
            .field("path", &self.path.as_str())
            .field("query", &self.query().as_str())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<E: RawEndpoint> AilyRequest for ApiRequest<E> {
    type Response = E::Response;
    type Operation = E;
    const IDEMPOTENT: bool = E::IDEMPOTENT;

    fn options(&self) -> &RequestOptions {
        &self.options
    }

    fn options_mut(&mut self) -> &mut RequestOptions {
        &mut self.options
    }

    fn to_http(&self) -> Request<RequestBody> {
        let body = self.body.as_ref().map(E::encode_body);
        let mut request = http_request(
            E::METHOD,
            self.query.as_deref().map_or_else(
                || self.path.path_and_query().clone(),
                |query| self.path.with_query(query),
            ),
            body,
            &self.options,
        );
        if let Some(body) = &self.body {
            let content_type = body.content_type();
            // JSON is what `http_request` already set: no second header value built.
            if content_type != JSON_CONTENT_TYPE {
                request
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, content_type);
            }
        }
        request
    }

    fn decode(response: Response<Bytes>) -> Result<E::Response, Error> {
        E::decode(response)
    }

    fn path(&self) -> &str {
        self.path.as_str()
    }

    fn record_ids(&self, span: &tracing::Span) {
        // The placeholders' span fields, by the one fixed map (`id_field`).
        for (index, name) in E::TEMPLATE.placeholders().enumerate() {
            if let Some(field) = super::id_field(name) {
                span.record(field, self.path.id(index));
            }
        }
    }
}
