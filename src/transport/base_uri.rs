//! [`BaseUrl`] (Feishu, Lark, or a custom host) and [`BaseUriLayer`], which sends
//! every request to it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::task::{Context, Poll};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Uri};
use tower::{Layer, Service};

use crate::error::Error;

/// Where the API lives: scheme and host, no path.
///
/// ```
/// use aily_client::transport::BaseUrl;
///
/// assert_eq!(BaseUrl::feishu().to_string(), "https://open.feishu.cn");
/// assert_eq!(BaseUrl::lark().to_string(), "https://open.larksuite.com");
/// let local: BaseUrl = "http://127.0.0.1:8080/".parse()?;
/// assert!(local.is_loopback());
/// assert!("ftp://example.com".parse::<BaseUrl>().is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
}

impl BaseUrl {
    /// `https://open.feishu.cn`, the default.
    pub fn feishu() -> BaseUrl {
        BaseUrl {
            scheme: Scheme::HTTPS,
            authority: Authority::from_static("open.feishu.cn"),
        }
    }

    /// `https://open.larksuite.com`, the international edition.
    pub fn lark() -> BaseUrl {
        BaseUrl {
            scheme: Scheme::HTTPS,
            authority: Authority::from_static("open.larksuite.com"),
        }
    }

    /// Parses `http[s]://host[:port]` with an optional trailing `/`. A path, query,
    /// fragment or user info is refused.
    ///
    /// The error echoes the text with any user info replaced by `<redacted>`, so a
    /// password in the URL never reaches a log or a terminal:
    ///
    /// ```
    /// use aily_client::transport::BaseUrl;
    ///
    /// let err = BaseUrl::parse("http://user:hunter2@127.0.0.1:1").unwrap_err();
    /// assert!(err.to_string().contains("http://<redacted>@127.0.0.1:1"), "{err}");
    /// assert!(!format!("{err} {err:?}").contains("hunter2"));
    /// ```
    pub fn parse(text: &str) -> Result<BaseUrl, Error> {
        let bad = |why: &str| {
            let shown = redact_userinfo(text);
            Error::config(format!("invalid base URL {shown:?}: {why}"))
        };
        let uri: Uri = text.trim().parse().map_err(|_| bad("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::HTTPS,
            Some("http") => Scheme::HTTP,
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("a scheme (https://) is required")),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| bad("a host is required"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info is not allowed"));
        }
        if authority.host().is_empty() {
            return Err(bad("a host is required"));
        }
        if let Some(pq) = uri.path_and_query()
            && (pq.query().is_some() || !matches!(pq.path(), "" | "/"))
        {
            return Err(bad("a path or query is not allowed"));
        }
        Ok(BaseUrl { scheme, authority })
    }

    /// True for `https`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// The host, without port or brackets.
    pub fn host(&self) -> &str {
        let h = self.authority.host();
        h.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h)
    }

    /// The port, explicit or implied by the scheme.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.is_https() { 443 } else { 80 })
    }

    /// True when the host is `localhost` or a loopback address: the only hosts plain
    /// `http://` is allowed to without opting in.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host.eq_ignore_ascii_case("localhost")
            || IpAddr::from_str(host).is_ok_and(|ip| ip.is_loopback())
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The authority (host and optional port).
    pub fn authority(&self) -> &Authority {
        &self.authority
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        BaseUrl::feishu()
    }
}

impl FromStr for BaseUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        BaseUrl::parse(s)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({self})")
    }
}

/// `text` with the user info of its authority (`user:password@`), if any, replaced by
/// `<redacted>@`: what may be echoed of a URL someone typed. Whatever the text — a URL
/// or not — everything before the last `@` of the part that would be the authority goes.
pub(crate) fn redact_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    let start = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &text[..start], &rest[at..]).into(),
        None => text.into(),
    }
}

/// A base URL as given to the builder, not yet parsed: `Debug` hides its user info
/// (see [`redact_userinfo`]).
#[derive(Clone)]
pub(crate) struct BaseUrlText(pub(crate) String);

impl fmt::Debug for BaseUrlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_userinfo(&self.0), f)
    }
}

/// Sends every request to the [`BaseUrl`]: the request's own scheme and host, if
/// any, are replaced, so credentials can only ever go to the configured host.
///
/// ```
/// use aily_client::transport::{BaseUriLayer, BaseUrl};
/// use tower::{Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let echo = tower::service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(req.uri().to_string())
/// });
/// let mut svc = BaseUriLayer::new(BaseUrl::lark()).layer(echo);
/// let req = http::Request::get("/open-apis/x?y=1").body(()).unwrap();
/// let uri = svc.ready().await.unwrap().call(req).await.unwrap();
/// assert_eq!(uri, "https://open.larksuite.com/open-apis/x?y=1");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BaseUriLayer {
    base: BaseUrl,
}

impl BaseUriLayer {
    /// A layer sending requests to `base`.
    pub fn new(base: BaseUrl) -> Self {
        BaseUriLayer { base }
    }
}

impl<S> Layer<S> for BaseUriLayer {
    type Service = BaseUri<S>;
    fn layer(&self, inner: S) -> BaseUri<S> {
        BaseUri {
            inner,
            base: self.base.clone(),
        }
    }
}

/// The service of [`BaseUriLayer`].
#[derive(Clone, Debug)]
pub struct BaseUri<S> {
    inner: S,
    base: BaseUrl,
}

impl<S> BaseUri<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<Request<B>> for BaseUri<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        let path = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.base.scheme.clone());
        parts.authority = Some(self.base.authority.clone());
        parts.path_and_query = Some(path);
        // Scheme, authority and path-and-query are all present, so this cannot fail.
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert!(BaseUrl::parse("https://open.feishu.cn").is_ok());
        assert!(BaseUrl::parse("https://open.feishu.cn/").is_ok());
        assert!(BaseUrl::parse("https://open.feishu.cn/api").is_err());
        assert!(BaseUrl::parse("https://u:p@open.feishu.cn").is_err());
        assert!(BaseUrl::parse("open.feishu.cn").is_err());
        assert!(BaseUrl::parse("https://x.cn?q=1").is_err());
        let v6 = BaseUrl::parse("http://[::1]:9").unwrap();
        assert!(v6.is_loopback());
        assert_eq!((v6.host(), v6.port()), ("::1", 9));
        assert!(!BaseUrl::parse("http://10.0.0.1").unwrap().is_loopback());
        assert!(BaseUrl::parse("http://LOCALHOST:1").unwrap().is_loopback());
    }

    #[test]
    fn user_info_is_never_echoed() {
        for (text, shown) in [
            (
                "http://user:hunter2@127.0.0.1:1",
                "http://<redacted>@127.0.0.1:1",
            ),
            ("https://:hunter2@h/p@q", "https://<redacted>@h/p@q"),
            ("https://a@b:hunter2@h", "https://<redacted>@h"),
            ("user:hunter2@h", "<redacted>@h"),
            ("https://h/x?u=a@b", "https://h/x?u=a@b"),
            ("https://open.feishu.cn", "https://open.feishu.cn"),
        ] {
            assert_eq!(redact_userinfo(text), shown);
            if !text.contains("hunter2") {
                continue;
            }
            let err = BaseUrl::parse(text).unwrap_err();
            let all = format!("{err} {err:?}");
            assert!(!all.contains("hunter2"), "{all}");
            let debug = format!("{:?}", BaseUrlText(text.to_owned()));
            assert!(!debug.contains("hunter2"), "{debug}");
        }
    }
}
