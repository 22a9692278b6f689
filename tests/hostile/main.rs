//! Hostile servers: whatever a server (or something posing as one) sends, the client
//! neither panics, nor leaks memory or connections, nor hangs, nor sends the token
//! anywhere but the configured host.
//!
//! Most faults here are beyond what `FakeAily` can express, so the servers are raw
//! `tokio::net::TcpListener`s on 127.0.0.1 writing HTTP/1.1 bytes by hand, an `h2`
//! server for HTTP/2 GOAWAY and stream resets, and rustls servers for TLS. Every
//! test runs under [`bounded`], so a hang fails the test instead of stalling CI, and
//! clients use short attempt/overall timeouts so that a stall shows as a timeout.
#![cfg(feature = "testing")]

#[path = "../support/mod.rs"]
mod support;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aily_client::retry::RetryConfig;
use aily_client::transport::RequestBody;
use aily_client::{AilyRequest, CancelRequest, Client, ClientBuilder, Credentials, ErrorKind};
use aily_client::{Error, TimeoutKind};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::ServiceExt;

const TOKEN: &str = "t-hostile-0123456789";
/// The bound on each whole test: generous for a loaded 2-core CI machine; a hang
/// fails loudly instead of stalling the run.
const TEST_BOUND: Duration = Duration::from_secs(30);
/// The attempt timeout of the clients here: short, to catch stalls quickly.
const ATTEMPT: Duration = Duration::from_millis(800);
/// The overall timeout of the clients here.
const OVERALL: Duration = Duration::from_secs(8);
const OK_BODY: &str =
    r#"{"code":0,"msg":"success","data":{"run":{"id":"r","status":"CANCELLED"}}}"#;

async fn bounded<F: Future>(test: F) -> F::Output {
    support::bounded_by(TEST_BOUND, test).await
}

fn quick_retry() -> RetryConfig {
    let mut config = RetryConfig::default();
    config.initial_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(50);
    config
}

/// A client of `base` with short timeouts and quick retries (3 attempts).
fn client(base: &str) -> ClientBuilder {
    support::builder_at(base, TOKEN)
        .attempt_timeout(ATTEMPT)
        .overall_timeout(OVERALL)
        .retry(quick_retry())
}

// ------------------------------------------------------------------ raw servers

/// A raw TCP server: each accepted connection is handed to the handler with its
/// index (0 for the first). Stops (and drops every connection) when dropped.
struct Raw {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Raw {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn raw_server_on<F, Fut>(ip: IpAddr, handler: F) -> Raw
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                next = listener.accept() => {
                    if let Ok((stream, _)) = next {
                        let index = count.fetch_add(1, Ordering::SeqCst);
                        connections.spawn(handler(index, stream));
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Raw {
        addr,
        accepted,
        task,
    }
}

async fn raw_server<F, Fut>(handler: F) -> Raw
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    raw_server_on(Ipv4Addr::LOCALHOST.into(), handler).await
}

/// Reads one HTTP/1.1 request (head, and a `Content-Length` body) and returns its
/// head, lower-cased; `None` at end of stream or on an error.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut have = buf.len() - (end + 4);
            while have < length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                have += n;
            }
            return Some(head);
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A complete HTTP/1.1 reply: `head` is the status line and any header lines
/// (each ending in CRLF); `Content-Length` is added.
fn reply(head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = head.to_vec();
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

fn ok_reply() -> Vec<u8> {
    reply(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-tt-logid: LOG-OK\r\n",
        OK_BODY.as_bytes(),
    )
}

/// Answers every request on the connection with `ok_reply`.
async fn serve_ok<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    while read_request(&mut stream).await.is_some() {
        if stream.write_all(&ok_reply()).await.is_err() {
            return;
        }
    }
}

/// A server answering every request of every connection with these bytes.
async fn constant_server(response: Vec<u8>) -> Raw {
    let response = Arc::new(response);
    raw_server(move |_, mut stream| {
        let response = response.clone();
        async move {
            while read_request(&mut stream).await.is_some() {
                if stream.write_all(&response).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// Closes `stream` with a TCP RST (zero linger) instead of a FIN.
fn reset(stream: TcpStream) {
    // A zero linger never blocks; tokio deprecates only the general setter.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// This process's resident set size, in bytes.
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Samples the RSS every millisecond on its own thread until stopped; returns the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = vm_rss();
            while !flag.load(Ordering::SeqCst) {
                peak = peak.max(vm_rss());
                std::thread::sleep(Duration::from_millis(1));
            }
            peak.max(vm_rss())
        });
        RssSampler { stop, thread }
    }

    fn peak(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// The error and its whole source chain, for matching on a cause's text.
fn chain(err: &Error) -> String {
    let mut text = format!("{err}");
    let mut cur = std::error::Error::source(err);
    while let Some(e) = cur {
        text.push_str(" <- ");
        text.push_str(&e.to_string());
        cur = e.source();
    }
    text
}

// --------------------------------------------------------------- huge bodies

const HUNDRED_MB: u64 = 100 << 20;
const MB: u64 = 1 << 20;

/// How the huge-body server's first connection ended.
#[derive(Default)]
struct Sent {
    bytes: AtomicU64,
    /// Set when a write failed: the client closed the connection.
    closed_by_client: AtomicBool,
    done: tokio::sync::Notify,
}

/// First connection: a 100 MB body, written lazily from one 64 KiB buffer, with a
/// `Content-Length` or chunked. Later connections: ordinary replies.
async fn hundred_mb_server(chunked: bool) -> (Raw, Arc<Sent>) {
    let sent = Arc::new(Sent::default());
    let record = sent.clone();
    let raw = raw_server(move |index, mut stream| {
        let sent = record.clone();
        async move {
            if index > 0 {
                return serve_ok(stream).await;
            }
            if read_request(&mut stream).await.is_none() {
                return;
            }
            let head = if chunked {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-tt-logid: LOG-BIG\r\n\
                 transfer-encoding: chunked\r\n\r\n"
                    .to_owned()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-tt-logid: LOG-BIG\r\n\
                     content-length: {HUNDRED_MB}\r\n\r\n"
                )
            };
            let block = vec![b'a'; 64 << 10];
            let frame = if chunked {
                [format!("{:x}\r\n", block.len()).as_bytes(), &block, b"\r\n"].concat()
            } else {
                block.clone()
            };
            let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
            let mut body = 0u64;
            while ok && body < HUNDRED_MB {
                ok = stream.write_all(&frame).await.is_ok();
                if ok {
                    body += block.len() as u64;
                    sent.bytes.store(body, Ordering::SeqCst);
                }
            }
            if ok && chunked {
                ok = stream.write_all(b"0\r\n\r\n").await.is_ok();
            }
            if !ok {
                sent.closed_by_client.store(true, Ordering::SeqCst);
            } else {
                // The whole body went out: wait to see whether the client closes.
                let mut rest = [0u8; 64];
                let closed = matches!(
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut rest)).await,
                    Ok(Ok(0) | Err(_))
                );
                sent.closed_by_client.store(closed, Ordering::SeqCst);
            }
            sent.done.notify_one();
        }
    })
    .await;
    (raw, sent)
}

/// A 100 MB body, declared or chunked: a body-too-large error at the 1 MiB limit,
/// memory that does not follow the body, a connection closed and never reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabyte_body_stops_at_the_limit_and_closes_the_connection() {
    bounded(async {
        for chunked in [false, true] {
            let (server, sent) = hundred_mb_server(chunked).await;
            let client = client(&server.base_url()).build().unwrap();
            let done = sent.done.notified();
            let before = vm_rss();
            let sampler = RssSampler::start();
            let started = Instant::now();

            let err = client.cancel_run("s", "r").await.unwrap_err();
            let took = started.elapsed();
            assert_eq!(
                err.kind(),
                ErrorKind::BodyTooLarge,
                "chunked={chunked}: {err}"
            );
            assert!(err.to_string().contains("1048576 bytes"), "{err}");
            assert_eq!(err.log_id(), Some("LOG-BIG"));
            assert_eq!(
                err.attempts(),
                Some(1),
                "an oversized body is never retried"
            );

            // The server sees its connection closed long before 100 MB went out.
            tokio::time::timeout(Duration::from_secs(10), done)
                .await
                .expect("the client never closed the oversized reply's connection");
            let peak = sampler.peak();
            let growth = peak.saturating_sub(before);
            let written = sent.bytes.load(Ordering::SeqCst);
            eprintln!(
                "100 MB body (chunked={chunked}): error after {took:?}; server wrote {:.1} MiB \
                 before the client closed; RSS {:.1} MiB -> peak {:.1} MiB (+{:.1} MiB)",
                written as f64 / MB as f64,
                before as f64 / MB as f64,
                peak as f64 / MB as f64,
                growth as f64 / MB as f64,
            );
            assert!(
                sent.closed_by_client.load(Ordering::SeqCst),
                "the client kept the connection open"
            );
            assert!(
                written < 32 * MB,
                "the server got {written} bytes out: the client kept reading"
            );
            assert!(
                growth < 32 * MB,
                "RSS grew by {growth} bytes while a 100 MB body was refused"
            );

            // The connection is not reused: the next call opens a new one, and works.
            assert_eq!(server.accepted(), 1);
            let ok = client.cancel_run("s", "r").await.unwrap();
            assert_eq!(ok.run.id, "r");
            assert_eq!(server.accepted(), 2, "a poisoned connection was reused");
        }
    })
    .await
}

// ------------------------------------------------------------------- stalls

/// A server that answers each request with `prefix` and then never another byte,
/// keeping the connection open.
async fn stalling_server(prefix: &'static [u8]) -> Raw {
    raw_server(move |_, mut stream| async move {
        if read_request(&mut stream).await.is_some() && stream.write_all(prefix).await.is_ok() {
            std::future::pending::<()>().await;
        }
    })
    .await
}

async fn assert_attempt_timeouts(server: &Raw, what: &str) {
    // One attempt: the attempt timeout, in about its time.
    let single = client(&server.base_url()).max_attempts(1).build().unwrap();
    let started = Instant::now();
    let err = single.cancel_run("s", "r").await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err.timeout_kind(),
        Some(TimeoutKind::Attempt),
        "{what}: {err}"
    );
    assert!(
        took >= ATTEMPT && took < ATTEMPT * 4,
        "{what}: took {took:?}"
    );
    assert_eq!(server.accepted(), 1, "{what}");

    // With retries (the documented policy: an attempt timeout is retried when the
    // request is idempotent, as cancel is): three attempts, each on a new
    // connection (the stalled one is never reused), then the attempt timeout.
    let retrying = client(&server.base_url()).build().unwrap();
    let started = Instant::now();
    let err = retrying.cancel_run("s", "r").await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err.timeout_kind(),
        Some(TimeoutKind::Attempt),
        "{what}: {err}"
    );
    assert_eq!(err.attempts(), Some(3), "{what}: {err}");
    assert_eq!(
        server.accepted(),
        1 + 3,
        "{what}: one connection per attempt"
    );
    assert!(took < OVERALL, "{what}: took {took:?}");
    eprintln!("{what}: 1 attempt timed out, then 3 attempts in {took:?}");
}

/// A reply that stalls forever, wherever it stalls — in the status line, in a
/// header, in a body with a length, between chunks: the attempt timeout, no hang.
/// The cases differ only in where the server stops writing.
#[tokio::test]
async fn a_reply_stalled_anywhere_is_an_attempt_timeout() {
    let cases: [(&str, &'static [u8]); 4] = [
        (
            "stalled body",
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"code\":0,",
        ),
        (
            "stalled chunked body",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"cod\r\n",
        ),
        ("stalled head 11", b"HTTP/1.1 20"),
        (
            "stalled head 81",
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-tt-logid: L\r\nx-slow: ",
        ),
    ];
    bounded(async {
        for (what, prefix) in cases {
            let server = stalling_server(prefix).await;
            assert_attempt_timeouts(&server, what).await;
        }
    })
    .await
}

/// Headers dripped one byte every 50 ms, forever (slowloris): the attempt timeout
/// bounds the whole attempt, not the gap between bytes.
#[tokio::test]
async fn headers_dripped_forever_are_an_attempt_timeout() {
    bounded(async {
        let server = raw_server(|_, mut stream| async move {
            if read_request(&mut stream).await.is_none() {
                return;
            }
            if stream
                .write_all(b"HTTP/1.1 200 OK\r\nx-drip: ")
                .await
                .is_err()
            {
                return;
            }
            while stream.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let single = client(&server.base_url()).max_attempts(1).build().unwrap();
        let started = Instant::now();
        let err = single.cancel_run("s", "r").await.unwrap_err();
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt), "{err}");
        assert!(started.elapsed() < ATTEMPT * 4, "{:?}", started.elapsed());
    })
    .await
}

/// An endless stream of informational (1xx) responses, never a final one: hyper
/// skips each, and the attempt timeout ends the wait; memory does not follow.
#[tokio::test]
async fn endless_informational_responses_are_an_attempt_timeout() {
    bounded(async {
        let server = raw_server(|_, mut stream| async move {
            if read_request(&mut stream).await.is_none() {
                return;
            }
            let hint = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n";
            while stream.write_all(hint).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        let single = client(&server.base_url()).max_attempts(1).build().unwrap();
        let before = vm_rss();
        let started = Instant::now();
        let err = single.cancel_run("s", "r").await.unwrap_err();
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt), "{err}");
        assert!(started.elapsed() < ATTEMPT * 4, "{:?}", started.elapsed());
        let growth = vm_rss().saturating_sub(before);
        assert!(growth < 32 * MB, "RSS grew by {growth} bytes");
    })
    .await
}

// --------------------------------------------------------- invalid UTF-8, depth

/// Invalid UTF-8 in the body is a decode error; in header values and the reason
/// phrase it is ignored (no log id, no rate-limit wait), never a panic.
#[tokio::test]
async fn invalid_utf8_in_body_and_headers_never_panics() {
    bounded(async {
        // In the body: a decode error.
        for body in [
            &b"{\"code\":0,\"msg\":\"\xff\xfe\",\"data\":{\"run\":{\"id\":\"r\"}}}"[..],
            b"{\"code\":0,\"msg\":\"ok\",\"data\":{\"run\":{\"id\":\"r\xc3\x28\"}}}",
            b"\xff\xfe\xfd\x00\x80",
        ] {
            let server = constant_server(reply(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n",
                body,
            ))
            .await;
            let err = client(&server.base_url())
                .build()
                .unwrap()
                .cancel_run("s", "r")
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
            assert_eq!(server.accepted(), 1, "a decode error is not retried");
        }

        // In X-Tt-Logid and the reason phrase, on a success: the run, no log id.
        let server = constant_server(reply(
            b"HTTP/1.1 200 \xff\xfeOK\r\ncontent-type: application/json\r\nx-tt-logid: \xff\xfe\x80abc\r\n",
            OK_BODY.as_bytes(),
        ))
        .await;
        let ok = client(&server.base_url())
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap();
        assert_eq!((ok.run.id.as_str(), ok.log_id()), ("r", None));

        // On an error: the body's log id stands in for the unreadable header.
        let server = constant_server(reply(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-tt-logid: \xff\r\n",
            br#"{"code":2700001,"msg":"param is invalid","error":{"log_id":"BODY-LOG"}}"#,
        ))
        .await;
        let err = client(&server.base_url())
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Api, Some(2700001)));
        assert_eq!(err.log_id(), Some("BODY-LOG"));

        // A rate limit whose reset header is not text: no wait taken from it.
        let server = constant_server(reply(
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: \xff\xfe\r\nx-ogw-ratelimit-reset: \xff\xfe\r\n",
            b"<html>\xff</html>",
        ))
        .await;
        let err = client(&server.base_url())
            .max_attempts(1)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Http, "{err}");
        assert_eq!(err.retry_after(), None);
    })
    .await
}

/// JSON nested 10,000 deep: never a stack overflow. Where the client reads the value
/// it is a decode error (a typed field refuses the first bracket; serde_json's
/// recursion limit of 128 backs that up); in a member the client does not read,
/// serde skips it iteratively and the reply is a success.
#[tokio::test]
async fn json_nested_ten_thousand_deep_is_a_decode_error_not_a_stack_overflow() {
    bounded(async {
        let deep_array = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_object = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        for deep in [&deep_array, &deep_object] {
            for (body, ok) in [
                (deep.clone(), false),
                (format!(r#"{{"code":0,"msg":"ok","data":{deep}}}"#), false),
                (
                    format!(r#"{{"code":0,"msg":"ok","data":{{"run":{{"id":"r","metadata":{deep}}}}}}}"#),
                    false,
                ),
                (
                    format!(r#"{{"code":0,"msg":"ok","data":{{"run":{{"id":"r","created_at":{deep}}}}}}}"#),
                    false,
                ),
                (
                    format!(r#"{{"code":0,"msg":"ok","unknown":{deep},"data":{{"run":{{"id":"r"}}}}}}"#),
                    true,
                ),
            ] {
                let server = constant_server(reply(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n",
                    body.as_bytes(),
                ))
                .await;
                let result = client(&server.base_url())
                    .build()
                    .unwrap()
                    .cancel_run("s", "r")
                    .await;
                let label = &body[..body.len().min(60)];
                if ok {
                    assert_eq!(result.unwrap().run.id, "r", "{label}");
                } else {
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::Decode, "{label}");
                }
            }
        }
    })
    .await
}

// ------------------------------------------------------------- huge headers

/// 1 MB of headers, as many small ones or one huge one: a clear transport error
/// naming hyper's limit ("message head is too large"), no panic; retried per policy
/// (the server, not the request, is at fault), each time on a new connection.
#[tokio::test]
async fn a_megabyte_of_headers_is_a_clear_error() {
    bounded(async {
        let many = {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            let mut i = 0;
            while head.len() < MB as usize {
                head.extend_from_slice(format!("x-junk-{i}: {}\r\n", "v".repeat(40)).as_bytes());
                i += 1;
            }
            head
        };
        let one = [
            &b"HTTP/1.1 200 OK\r\nx-huge: "[..],
            &vec![b'v'; MB as usize],
            b"\r\n",
        ]
        .concat();
        for (what, head) in [("many headers", many), ("one huge header", one)] {
            let server = constant_server(reply(&head, OK_BODY.as_bytes())).await;
            let started = Instant::now();
            let err = client(&server.base_url())
                .build()
                .unwrap()
                .cancel_run("s", "r")
                .await
                .unwrap_err();
            let text = chain(&err);
            eprintln!("{what}: {text} (in {:?})", started.elapsed());
            assert_eq!(err.kind(), ErrorKind::Transport, "{what}: {text}");
            assert!(text.contains("too large"), "{what}: {text}");
            // Like a decode error, an unparseable reply is not retried: the same
            // server would send it again.
            assert_eq!(err.attempts(), Some(1), "{what}");
            assert_eq!(server.accepted(), 1, "{what}: one attempt, one connection");
        }
    })
    .await
}

// ------------------------------------------------- redirects and credentials

/// A listener on another loopback address (127.0.0.2, falling back to 127.0.0.1
/// where that cannot be bound) that counts connections and answers nothing.
async fn other_host() -> Raw {
    let ip: IpAddr = match TcpListener::bind("127.0.0.2:0").await {
        Ok(_) => Ipv4Addr::new(127, 0, 0, 2).into(),
        Err(_) => Ipv4Addr::LOCALHOST.into(),
    };
    raw_server_on(ip, |_, _stream| async {}).await
}

/// A server that records each request's head and answers with `response`.
async fn recording_server(response: Vec<u8>) -> (Raw, Arc<Mutex<Vec<String>>>) {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let record = heads.clone();
    let response = Arc::new(response);
    let raw = raw_server(move |_, mut stream| {
        let heads = record.clone();
        let response = response.clone();
        async move {
            while let Some(head) = read_request(&mut stream).await {
                heads.lock().unwrap().push(head);
                if stream.write_all(&response).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (raw, heads)
}

/// A 3xx pointing at another host is never followed: the client returns the HTTP
/// error, and the other host sees no connection, so the token never reaches it.
#[tokio::test]
async fn redirects_are_not_followed_and_the_token_stays_home() {
    bounded(async {
        let thief = other_host().await;
        for status in [301u16, 302, 303, 307, 308] {
            for body in [&b""[..], b"<html>moved</html>"] {
                let location = format!(
                    "http://{}/open-apis/aily/v1/sessions/s/runs/r/cancel",
                    thief.addr
                );
                let (server, heads) = recording_server(reply(
                    format!(
                        "HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-type: text/html\r\n"
                    )
                    .as_bytes(),
                    body,
                ))
                .await;
                let err = client(&server.base_url())
                    .build()
                    .unwrap()
                    .cancel_run("s", "r")
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Http, "{status}: {err}");
                assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
                assert_eq!(err.attempts(), Some(1), "a 3xx is not retried");
                let heads = heads.lock().unwrap().clone();
                assert_eq!(heads.len(), 1);
                assert!(heads[0].contains(&format!("authorization: bearer {}", TOKEN.to_lowercase())));
            }
        }
        // Give a (wrongly) delayed follow-up a moment to show itself.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(thief.accepted(), 0, "the redirect target was contacted");
    })
    .await
}

/// A request with an absolute URI to another host, sent through the client's HTTP
/// tier, still goes to the configured host: the base-URI layer replaces scheme and
/// authority, so `Authorization` only ever goes where the client was pointed.
#[tokio::test]
async fn an_absolute_uri_cannot_send_the_token_elsewhere() {
    bounded(async {
        let thief = other_host().await;
        let (server, heads) = recording_server(ok_reply()).await;
        let client = client(&server.base_url()).build().unwrap();
        for uri in [
            format!("http://{}/steal?x=1", thief.addr),
            format!("https://{}/steal?x=1", thief.addr),
        ] {
            let request = http::Request::post(uri)
                .body(RequestBody::new(Bytes::new()))
                .unwrap();
            let response = client.http_service().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
        }
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 2);
        for head in heads {
            assert!(head.starts_with("post /steal?x=1 http/1.1"), "{head}");
            assert!(head.contains(&format!("host: {}", server.addr)), "{head}");
            assert!(head.contains("authorization: bearer"), "{head}");
        }
        assert_eq!(thief.accepted(), 0);
    })
    .await
}

/// Plain `http://` to anything but loopback is refused when the client is built,
/// before any connection, unless explicitly allowed.
#[test]
fn plain_http_to_a_remote_host_is_refused_at_build_time() {
    let build = |base: &str, allow: bool| {
        Client::builder()
            .credentials(Credentials::tenant_token(TOKEN))
            .base_url(base)
            .allow_insecure_http(allow)
            .build()
    };
    for base in [
        "http://open.feishu.cn",
        "http://open.larksuite.com:80/",
        "http://10.0.0.1",
        "http://192.168.1.10:8080",
        "http://0.0.0.0:80",
        "http://[fe80::1]",
        "http://[::ffff:127.0.0.1]",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
    ] {
        let err = build(base, false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{base}");
        assert!(
            err.to_string().contains("refusing plain http"),
            "{base}: {err}"
        );
        assert!(
            build(base, true).is_ok(),
            "{base}: the explicit opt-in allows it"
        );
    }
    for base in [
        "http://127.0.0.1:1",
        "http://localhost:8080",
        "http://[::1]:9",
        "https://open.feishu.cn",
        "https://10.0.0.1",
    ] {
        assert!(build(base, false).is_ok(), "{base}");
    }
    // User info in a base URL (a way to smuggle a host) is refused outright.
    assert_eq!(
        build("https://open.feishu.cn@evil.example", false)
            .unwrap_err()
            .kind(),
        ErrorKind::Config
    );
}

// ------------------------------------------------------------ resets

/// Headers and part of the body, then a TCP RST: a clear transport error, retried
/// per policy (cancel is idempotent), each attempt counted at the server.
#[tokio::test]
async fn a_reset_mid_body_is_a_retried_transport_error() {
    bounded(async {
        // `resets` connections reset mid-body; the rest answer normally.
        async fn resetting_server(resets: usize) -> Raw {
            cutting_server(resets, true).await
        }
        // Or a plain close (FIN) before the declared length: the same outcome.
        async fn cutting_server(resets: usize, rst: bool) -> Raw {
            raw_server(move |index, mut stream| async move {
                if index >= resets {
                    return serve_ok(stream).await;
                }
                if read_request(&mut stream).await.is_none() {
                    return;
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          x-tt-logid: LOG-RST\r\ncontent-length: 1000\r\n\r\n{\"code\":0,\"msg\":",
                    )
                    .await;
                // Let the head arrive before the reset.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if rst {
                    reset(stream);
                }
            })
            .await
        }

        // Always reset: three attempts, then the transport error.
        let server = resetting_server(usize::MAX).await;
        let err = client(&server.base_url())
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{}", chain(&err));
        assert!(err.is_retryable());
        assert_eq!(err.attempts(), Some(3));
        assert_eq!(server.accepted(), 3);

        // Reset once: the retry succeeds.
        let server = resetting_server(1).await;
        let ok = client(&server.base_url())
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap();
        assert_eq!(ok.run.id, "r");
        assert_eq!(server.accepted(), 2);

        // Not idempotent: one attempt only.
        let server = resetting_server(usize::MAX).await;
        let request = CancelRequest::new("s", "r").unwrap().with_idempotent(false);
        let err = client(&server.base_url())
            .build()
            .unwrap()
            .call(request)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport);
        assert_eq!(server.accepted(), 1);

        // A FIN before the declared length: the same retried transport error.
        let server = cutting_server(usize::MAX, false).await;
        let err = client(&server.base_url())
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{}", chain(&err));
        assert_eq!(err.attempts(), Some(3));
        assert_eq!(server.accepted(), 3);
    })
    .await
}

/// Conflicting `Content-Length` headers (a response-splitting shape): hyper refuses
/// to frame the reply, a clear transport error; nothing is decoded from it.
#[tokio::test]
async fn conflicting_content_lengths_are_refused() {
    bounded(async {
        let body = OK_BODY.as_bytes();
        let mut response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             content-length: {}\r\n\r\n",
            body.len(),
            body.len() + 10
        )
        .into_bytes();
        response.extend_from_slice(body);
        let server = constant_server(response).await;
        // Three attempts allowed; a reply hyper refuses to parse is not retried.
        let err = client(&server.base_url())
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{}", chain(&err));
        assert_eq!(err.attempts(), Some(1), "{}", chain(&err));
        assert_eq!(server.accepted(), 1);
    })
    .await
}

// ------------------------------------------------------------ HTTP/2

/// What the h2 server does with a stream after sending the head and 10 body bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum H2Fault {
    /// Finish the body.
    None,
    /// GOAWAY (INTERNAL_ERROR) and close the connection, the stream unfinished.
    AbruptGoaway,
    /// GOAWAY (graceful), then finish the stream.
    GracefulGoaway,
    /// RST_STREAM (INTERNAL_ERROR) on the stream; the connection lives on.
    ResetStream,
    /// RST_STREAM (REFUSED_STREAM) before any response.
    Refuse,
}

struct H2Server {
    raw: Raw,
    requests: Arc<AtomicUsize>,
}

/// An HTTP/2 (h2c, prior knowledge) server applying `fault(connection, request)`
/// to each request, `request` counting from 0 over all connections.
async fn h2_server(fault: fn(usize, usize) -> H2Fault) -> H2Server {
    use h2::Reason;
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    let raw = raw_server(move |conn_index, stream| {
        let count = count.clone();
        async move {
            let Ok(mut conn) = h2::server::handshake(stream).await else {
                return;
            };
            let (shutdown_tx, mut shutdown_rx) =
                tokio::sync::mpsc::unbounded_channel::<Option<Reason>>();
            let mut streams = JoinSet::new();
            loop {
                tokio::select! {
                    next = conn.accept() => match next {
                        Some(Ok((request, respond))) => {
                            let fault = fault(conn_index, count.fetch_add(1, Ordering::SeqCst));
                            streams.spawn(h2_stream(request, respond, fault, shutdown_tx.clone()));
                        }
                        _ => break,
                    },
                    Some(command) = shutdown_rx.recv() => match command {
                        None => conn.graceful_shutdown(),
                        Some(reason) => conn.abrupt_shutdown(reason),
                    },
                }
            }
            // The connection is closed (after a graceful GOAWAY, only once every
            // stream finished): end the stream tasks still holding a stream.
            streams.abort_all();
        }
    })
    .await;
    H2Server { raw, requests }
}

async fn h2_stream(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    fault: H2Fault,
    shutdown: tokio::sync::mpsc::UnboundedSender<Option<h2::Reason>>,
) {
    use h2::Reason;
    let mut body = request.into_body();
    while let Some(Ok(data)) = body.data().await {
        let _ = body.flow_control().release_capacity(data.len());
    }
    if fault == H2Fault::Refuse {
        respond.send_reset(Reason::REFUSED_STREAM);
        return;
    }
    let head = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-length", OK_BODY.len())
        .header("x-tt-logid", "LOG-H2")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    let (first, rest) = OK_BODY.as_bytes().split_at(10);
    let _ = send.send_data(Bytes::from_static(first), false);
    match fault {
        H2Fault::None | H2Fault::Refuse => {}
        H2Fault::AbruptGoaway => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = shutdown.send(Some(Reason::INTERNAL_ERROR));
            // Hold the stream open (no END_STREAM, no RST_STREAM): the GOAWAY and the
            // closed connection are what the client sees.
            std::future::pending::<()>().await;
        }
        H2Fault::GracefulGoaway => {
            let _ = shutdown.send(None);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        H2Fault::ResetStream => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            send.send_reset(Reason::INTERNAL_ERROR);
            return;
        }
    }
    let _ = send.send_data(Bytes::from_static(rest), true);
}

fn h2_client(server: &H2Server) -> ClientBuilder {
    client(&server.raw.base_url()).http2_prior_knowledge(true)
}

/// GOAWAY with an error mid-stream, the connection closed: the in-flight call gets a
/// clear transport error and is retried on a new connection, which succeeds.
#[tokio::test]
async fn http2_goaway_mid_stream_is_retried_on_a_new_connection() {
    bounded(async {
        let server = h2_server(|conn, _| {
            if conn == 0 {
                H2Fault::AbruptGoaway
            } else {
                H2Fault::None
            }
        })
        .await;
        let ok = h2_client(&server)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap();
        assert_eq!(ok.log_id(), Some("LOG-H2"));
        assert_eq!(server.raw.accepted(), 2);
        assert_eq!(server.requests.load(Ordering::SeqCst), 2);

        // Without retries the error itself: a transport error, retryable.
        let server = h2_server(|_, _| H2Fault::AbruptGoaway).await;
        let err = h2_client(&server)
            .max_attempts(1)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{}", chain(&err));
        assert!(err.is_retryable());
        assert_eq!(server.raw.accepted(), 1);
    })
    .await
}

/// A graceful GOAWAY while a stream is in flight: that stream completes, and the
/// next call opens a new connection instead of hanging on the closing one.
#[tokio::test]
async fn http2_graceful_goaway_completes_the_stream_then_reconnects() {
    bounded(async {
        let server = h2_server(|conn, _| {
            if conn == 0 {
                H2Fault::GracefulGoaway
            } else {
                H2Fault::None
            }
        })
        .await;
        let client = h2_client(&server).build().unwrap();
        let ok = client.cancel_run("s", "r").await.unwrap();
        assert_eq!(ok.run.id, "r");
        assert_eq!(server.raw.accepted(), 1);
        // The connection is going away: the next call must not wait on it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ok = client.cancel_run("s", "r").await.unwrap();
        assert_eq!(ok.run.id, "r");
        assert_eq!(server.raw.accepted(), 2);
        assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    })
    .await
}

/// RST_STREAM mid-body: a transport error, retried on the same (healthy)
/// connection; REFUSED_STREAM before any response: retried too.
#[tokio::test]
async fn http2_stream_resets_are_retried() {
    bounded(async {
        let server = h2_server(|_, request| {
            if request == 0 {
                H2Fault::ResetStream
            } else {
                H2Fault::None
            }
        })
        .await;
        let ok = h2_client(&server)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap();
        assert_eq!(ok.run.id, "r");
        assert_eq!(server.requests.load(Ordering::SeqCst), 2);
        assert_eq!(server.raw.accepted(), 1, "the connection itself was fine");

        let server = h2_server(|_, _| H2Fault::ResetStream).await;
        let err = h2_client(&server)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{}", chain(&err));
        assert_eq!(err.attempts(), Some(3));
        assert_eq!(server.requests.load(Ordering::SeqCst), 3);

        let server = h2_server(|_, request| {
            if request == 0 {
                H2Fault::Refuse
            } else {
                H2Fault::None
            }
        })
        .await;
        let ok = h2_client(&server)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap();
        assert_eq!(ok.run.id, "r");
        assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    })
    .await
}

// ------------------------------------------------------------------ TLS

/// The TLS record of a ClientHello, parsed for its offered protocol versions.
struct ClientHello {
    legacy_version: u16,
    supported_versions: Vec<u16>,
}

fn parse_client_hello(record: &[u8]) -> ClientHello {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (head, rest) = b.split_at(n);
        *b = rest;
        head
    }
    fn u16_of(b: &[u8]) -> u16 {
        u16::from_be_bytes([b[0], b[1]])
    }
    let mut b = record;
    assert_eq!(take(&mut b, 1), [0x16], "a handshake record");
    take(&mut b, 4); // record version, length
    assert_eq!(take(&mut b, 1), [0x01], "a ClientHello");
    take(&mut b, 3);
    let legacy_version = u16_of(take(&mut b, 2));
    take(&mut b, 32); // random
    let n = take(&mut b, 1)[0] as usize;
    take(&mut b, n); // session id
    let n = u16_of(take(&mut b, 2)) as usize;
    take(&mut b, n); // cipher suites
    let n = take(&mut b, 1)[0] as usize;
    take(&mut b, n); // compression methods
    let n = u16_of(take(&mut b, 2)) as usize;
    let mut ext = take(&mut b, n);
    let mut supported_versions = Vec::new();
    while !ext.is_empty() {
        let kind = u16_of(take(&mut ext, 2));
        let n = u16_of(take(&mut ext, 2)) as usize;
        let mut data = take(&mut ext, n);
        if kind == 0x002b {
            let n = take(&mut data, 1)[0] as usize;
            supported_versions = take(&mut data, n).chunks(2).map(u16_of).collect();
        }
    }
    ClientHello {
        legacy_version,
        supported_versions,
    }
}

async fn read_tls_record(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await.ok()?;
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    let mut record = header.to_vec();
    record.resize(5 + len, 0);
    stream.read_exact(&mut record[5..]).await.ok()?;
    Some(record)
}

/// TLS 1.2 is the floor, checked on the wire: the ClientHello offers exactly TLS 1.3
/// and 1.2 (rustls implements nothing older), and a server answering with TLS 1.1
/// gets a protocol_version alert and nothing else — no request, so no token.
#[tokio::test]
async fn tls_older_than_1_2_is_never_offered_nor_accepted() {
    bounded(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let server = raw_server(move |_, mut stream| {
            let seen = record.clone();
            async move {
                let Some(hello) = read_tls_record(&mut stream).await else {
                    return;
                };
                let hello = parse_client_hello(&hello);
                // A TLS 1.1 ServerHello: version 0x0302, TLS_RSA_WITH_AES_128_CBC_SHA.
                let mut body = vec![0x03, 0x02];
                body.extend_from_slice(&[0x42; 32]);
                body.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00]);
                let mut handshake = vec![0x02, 0x00];
                handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
                handshake.extend_from_slice(&body);
                let mut out = vec![0x16, 0x03, 0x02];
                out.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
                out.extend_from_slice(&handshake);
                let _ = stream.write_all(&out).await;
                let answer = tokio::time::timeout(Duration::from_secs(5), async {
                    let mut all = Vec::new();
                    let _ = stream.read_to_end(&mut all).await;
                    all
                })
                .await
                .unwrap_or_default();
                seen.lock().unwrap().push((hello, answer));
            }
        })
        .await;
        let base = format!("https://localhost:{}", server.addr.port());
        let err = client(&base)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{}", chain(&err));
        eprintln!("TLS 1.1 server: {}", chain(&err));
        assert_eq!(err.attempts(), Some(1), "a TLS failure is not retried");
        assert_eq!(server.accepted(), 1);
        // Wait for the server to record what the client sent back.
        let seen = loop {
            if let Some(seen) = seen.lock().unwrap().pop() {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let (hello, answer) = seen;
        assert_eq!(hello.legacy_version, 0x0303, "the ClientHello says TLS 1.2");
        assert_eq!(
            hello.supported_versions,
            [0x0304, 0x0303],
            "exactly TLS 1.3 and TLS 1.2 are offered"
        );
        // The answer is one fatal alert (level 2) protocol_version (70), in clear.
        assert_eq!(answer.len(), 7, "only an alert came back: {answer:02x?}");
        assert_eq!(answer[0], 0x15, "an alert record: {answer:02x?}");
        assert_eq!(
            &answer[5..],
            [2, 70],
            "fatal protocol_version: {answer:02x?}"
        );
    })
    .await
}

/// A certificate authority and a `localhost`/`127.0.0.1` leaf signed by it; the
/// rustls server config restricted to `versions`, ALPN `http/1.1`.
fn tls_server_config(
    versions: &[&'static tokio_rustls::rustls::SupportedProtocolVersion],
) -> (tokio_rustls::TlsAcceptor, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.use_authority_key_identifier_extension = true;
    let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca.der().to_vec(),
    )
}

/// A server that speaks only TLS 1.3, or only TLS 1.2: the client connects to either
/// (so neither floor is above what it must support), and the negotiated version is
/// the server's only one.
#[tokio::test]
async fn tls_1_2_only_and_tls_1_3_only_servers_both_work() {
    use tokio_rustls::rustls::{self, ProtocolVersion};
    bounded(async {
        for (version, expected) in [
            (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
            (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        ] {
            let (acceptor, ca_der) = tls_server_config(&[version]);
            let negotiated = Arc::new(Mutex::new(Vec::new()));
            let record = negotiated.clone();
            let server = raw_server(move |_, stream| {
                let acceptor = acceptor.clone();
                let negotiated = record.clone();
                async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    negotiated
                        .lock()
                        .unwrap()
                        .push(tls.get_ref().1.protocol_version());
                    serve_ok(tls).await;
                }
            })
            .await;
            let base = format!("https://localhost:{}", server.addr.port());
            let ok = client(&base)
                .add_root_certificate(ca_der)
                .build()
                .unwrap()
                .cancel_run("s", "r")
                .await
                .unwrap();
            assert_eq!(ok.run.id, "r");
            assert_eq!(*negotiated.lock().unwrap(), [Some(expected)]);
        }
    })
    .await
}

/// A certificate the client does not trust: a connect error after one attempt (it
/// would fail the same way again), and no request — so no token — reaches the server.
#[tokio::test]
async fn an_untrusted_certificate_fails_once_and_sends_nothing() {
    use tokio_rustls::rustls;
    bounded(async {
        let (acceptor, _ca_der) = tls_server_config(&[&rustls::version::TLS13]);
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        let server = raw_server(move |_, stream| {
            let acceptor = acceptor.clone();
            let count = count.clone();
            async move {
                if let Ok(mut tls) = acceptor.accept(stream).await
                    && read_request(&mut tls).await.is_some()
                {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .await;
        let base = format!("https://localhost:{}", server.addr.port());
        let err = client(&base)
            .build()
            .unwrap()
            .cancel_run("s", "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{}", chain(&err));
        assert!(chain(&err).contains("certificate"), "{}", chain(&err));
        assert_eq!(err.attempts(), Some(1), "a TLS failure is not retried");
        assert_eq!(server.accepted(), 1);
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    })
    .await
}

/// The typed request path is the only thing the client puts after the host: a
/// hostile id cannot add a path segment, a query or a fragment on the wire.
#[tokio::test]
async fn hostile_ids_reach_the_server_as_one_segment_each() {
    bounded(async {
        let (server, heads) = recording_server(ok_reply()).await;
        let client = client(&server.base_url()).build().unwrap();
        for (session, run) in [
            ("../../auth", "x?y=1#z"),
            ("%2e%2e", "a/b/../c"),
            ("会话", "run%00"),
        ] {
            let request = CancelRequest::new(session, run).unwrap();
            let path = request.path().to_owned();
            client.call(request).await.unwrap();
            let head = heads.lock().unwrap().pop().unwrap();
            let line = head.lines().next().unwrap().to_owned();
            assert_eq!(line, format!("post {} http/1.1", path.to_lowercase()));
            assert!(!line.contains("/../") && !line.contains('?') && !line.contains('#'));
        }
    })
    .await
}
