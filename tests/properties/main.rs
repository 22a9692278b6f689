//! Property tests: hostile input never panics and never escapes its place.
//!
//! * Request paths: for any pair of strings, `CancelRequest::new` / `GetRunRequest::new`
//!   either fail naming the field, or build exactly
//!   `/open-apis/aily/v1/sessions/<segment>/runs/<segment>[/cancel]`, each segment free
//!   of `/`, `?`, `#`, never `.` or `..`, and percent-decoding back to the id; the
//!   absolute URI the client builds for any base keeps that path.
//! * Reply decoding (`AilyRequest::decode`, the public entry point the client uses
//!   for every reply, and `envelope::envelope_code`): any bytes, any JSON tree, any
//!   status and log-id header → `Ok` or a reply error, never a panic.
//! * Event streams: any bytes cut at any points give the event-stream parser's same
//!   events, error and end as the whole input at once, never a panic.
//! * Token lifetimes: any `expire` in `i64` from the token endpoint is refused (≤ 0)
//!   or becomes a lifetime in `1 s ..= MAX_TOKEN_LIFETIME`, never a panic; a token
//!   store given any time to live keeps the token at most `MAX_TOKEN_LIFETIME`.
//!
//! The invariants live in tests/properties/invariants.rs, shared with the cargo-fuzz targets
//! in fuzz/ (which need nightly; these run on stable). Case counts are bounded so the
//! binary runs in a few seconds.

#[path = "../support/mod.rs"]
mod support;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use support::invariants::{self, check_decode, check_ids, reply};

// ---------------------------------------------------------------- ids and paths

/// Characters that have a meaning in a URL or are otherwise hostile, plus anything.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '/', '%', '?', '#', '.', ' ', '\t', '\n', '\r', '\0', '\u{7f}', '\u{85}',
            '\u{a0}', '\u{2028}', '\u{3000}', '\u{feff}', '\u{200b}', '+', '&', ';', '=',
            '\\', '@', ':', '[', ']', '~', '-', '_', '"', '\'', '<', '>', '会', '😀',
        ]),
        2 => proptest::char::range('a', 'z'),
        1 => any::<char>(),
    ]
}

fn string_of(
    chars: impl Strategy<Value = char> + 'static,
    len: std::ops::Range<usize>,
) -> BoxedStrategy<String> {
    vec(chars, len)
        .prop_map(|v| v.into_iter().collect::<String>())
        .boxed()
}

/// IDs: short hostile strings, arbitrary strings, the dot forms and escapes, strings
/// around the 256-byte limit, and very long ones.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => string_of(hostile_char(), 0..12),
        2 => any::<String>(),
        2 => prop::sample::select(vec![
            "", ".", "..", "...", "./", "../", "%2e", "%2E%2E", "%2F", "%", "%%", "%zz",
            "?", "#", "a?b=c", "a#frag", "/", "//", "\\..\\", "run_4dfrxvctjqzzj", "会话",
        ])
        .prop_map(str::to_owned),
        1 => (string_of(hostile_char(), 1..4), 60usize..100).prop_map(|(unit, n)| {
            // Around the 256-byte limit, in units of 1 to 16 bytes.
            let mut s = String::new();
            while s.len() < n * 3 {
                s.push_str(&unit);
            }
            s
        }),
        1 => "[a-z0-9_]{250,262}",
        1 => string_of(any::<char>(), 500..3000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any pair of ids: a clear error naming the field, or a path that is exactly the
    /// template with two safe segments that decode back to the ids, kept as is in the
    /// request and in the absolute URI.
    #[test]
    fn any_ids_give_a_named_error_or_an_exact_safe_path(session in id(), run in id()) {
        check_ids(&session, &run);
    }

    /// Valid ids always build (the rule is exactly the documented one).
    #[test]
    fn valid_ids_always_build(session in "[^\\s\\p{Cc}]{1,80}", run in "[^\\s\\p{Cc}]{1,80}") {
        prop_assume!(session.len() <= 256 && run.len() <= 256);
        prop_assume!(!matches!(session.as_str(), "." | "..") && !matches!(run.as_str(), "." | ".."));
        check_ids(&session, &run);
        prop_assert!(aily_client::CancelRequest::new(session, run).is_ok());
    }
}

// ---------------------------------------------------------------- reply decoding

/// Member names: the envelope's and the run's, plus anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "code", "msg", "data", "run", "error", "id", "status", "created_at", "started_at",
            "ended_at", "metadata", "log_id", "logid", "field_violations", "message",
            "permission_violations", "helps", "details", "session_id", "app_id",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            0i64, 1, -1, 404, 2700001, 99991400, 99991663, 99991677
        ])
        .prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

/// Any JSON value, up to 6 levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        prop_oneof![
            ".*",
            Just("IN_PROGRESS".to_owned()),
            Just("CANCELLED".to_owned()),
            Just("1711975665710".to_owned()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON value, or (half the time) one of the expected shape at this place.
fn maybe(shape: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        2 => json().prop_map(Some),
        3 => shape.prop_map(Some),
    ]
}

fn object(members: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect::<Map<_, _>>(),
    )
}

/// A run-like object: each field missing, of the right type, or any JSON.
fn run_like() -> impl Strategy<Value = Value> {
    let text = || ".{0,12}".prop_map(Value::String);
    (
        maybe(text()),
        maybe(
            prop::sample::select(vec!["QUEUED", "IN_PROGRESS", "CANCELLED", "PAUSED", ""])
                .prop_map(Value::from),
        ),
        maybe(prop_oneof!["[0-9]{1,20}".prop_map(Value::String), number()]),
        maybe(text()),
        maybe(json()),
    )
        .prop_map(|(id, status, created, metadata, extra)| {
            object(vec![
                ("id", id),
                ("status", status),
                ("created_at", created),
                ("metadata", metadata),
                ("something_new", extra),
            ])
        })
}

/// An envelope-like object: each member missing, of the right type, or any JSON.
fn envelope_like() -> impl Strategy<Value = Value> {
    (
        maybe(number()),
        maybe(".{0,12}".prop_map(Value::String)),
        maybe(maybe(run_like()).prop_map(|run| object(vec![("run", run)]))),
        maybe(json()),
    )
        .prop_map(|(code, msg, data, error)| {
            object(vec![
                ("code", code),
                ("msg", msg),
                ("data", data),
                ("error", error),
            ])
        })
}

/// An envelope as a JSON array, `[code, msg, data, error]` cut short anywhere: serde's
/// derived structs read arrays positionally, so this reaches every decoding branch too.
fn envelope_array() -> impl Strategy<Value = Value> {
    (
        number(),
        ".{0,8}",
        maybe(run_like()).prop_map(|run| object(vec![("run", run)])),
        json(),
        0usize..=5,
    )
        .prop_map(|(code, msg, data, error, n)| {
            Value::Array(
                [code, msg.into(), data, error, Value::Null]
                    .into_iter()
                    .take(n)
                    .collect(),
            )
        })
}

/// A byte-level change to a serialized reply.
#[derive(Clone, Debug)]
enum Mutation {
    None,
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Flip(prop::sample::Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
    ]
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    match m {
        Mutation::None => {}
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Mutation::Flip(i, b) => {
            let at = i.index(bytes.len());
            bytes[at] ^= b | 1;
        }
    }
    bytes
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(vec![200u16, 400, 401, 403, 404, 429, 500, 502, 503, 504]),
        1 => 100u16..1000,
    ]
}

/// Log-id header bytes: none, ordinary, or any bytes (non-ASCII, control, empty).
fn log_id() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => "[0-9A-F]{20,34}".prop_map(|s| Some(s.into_bytes())),
        1 => vec(any::<u8>(), 0..40).prop_map(Some),
    ]
}

/// JSON nested `depth` deep, arrays or objects, with a valid envelope around it at
/// `place` (0: the whole body, 1: an unknown member, 2: `data.run.metadata`,
/// 3: `error`, 4: `data`).
fn deeply_nested(depth: usize, objects: bool, place: u8) -> Vec<u8> {
    let (open, close) = if objects {
        (r#"{"a":"#, "}")
    } else {
        ("[", "]")
    };
    let mut inner = open.repeat(depth);
    inner.push('1');
    inner.push_str(&close.repeat(depth));
    let body = match place {
        0 => inner,
        1 => format!(r#"{{"code":0,"msg":"ok","deep":{inner},"data":{{"run":{{"id":"r"}}}}}}"#),
        2 => format!(r#"{{"code":0,"msg":"ok","data":{{"run":{{"id":"r","metadata":{inner}}}}}}}"#),
        3 => format!(r#"{{"code":2700001,"msg":"bad","error":{inner}}}"#),
        _ => format!(r#"{{"code":0,"msg":"ok","data":{inner}}}"#),
    };
    body.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any bytes at all.
    #[test]
    fn decoding_any_bytes_never_panics(
        status in status(),
        log_id in log_id(),
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            // Bytes that start like an envelope, to reach the cheap code reader's branches.
            (prop::sample::select(vec![&b"{\"code\":"[..], b"{\"code\":0,", b"{\"code\":-", b"{\"code\":99999999999999999999"]),
             vec(any::<u8>(), 0..64))
                .prop_map(|(lead, rest)| [lead, &rest[..]].concat()),
        ],
    ) {
        check_decode(reply(status, log_id.as_deref(), body));
    }

    /// Any JSON tree, envelope-shaped or not, serialized and possibly damaged.
    #[test]
    fn decoding_any_json_never_panics(
        status in status(),
        log_id in log_id(),
        value in prop_oneof![4 => envelope_like(), 1 => envelope_array(), 2 => json()],
        damage in mutation(),
    ) {
        let body = mutate(serde_json::to_vec(&value).unwrap(), &damage);
        check_decode(reply(status, log_id.as_deref(), body));
    }

    /// A well-formed envelope with a non-zero integer code is always that API error,
    /// of the kind its code and status say, whatever `data` holds.
    #[test]
    fn a_non_zero_code_is_always_the_api_error(
        status in status(),
        code in prop_oneof![
            prop::sample::select(vec![1i64, -1, 2700001, 99991400, 99991661, 99991663, 99991664, 99991668, 99991671, 99991677]),
            any::<i64>(),
        ],
        msg in ".{0,16}",
        data in maybe(json()),
    ) {
        prop_assume!(code != 0);
        let body = serde_json::to_vec(&object(vec![
            ("code", Some(code.into())),
            ("msg", Some(msg.clone().into())),
            ("data", data),
        ])).unwrap();
        let response = reply(status, None, body.clone());
        let err = <aily_client::CancelRequest as aily_client::AilyRequest>::decode(response).unwrap_err();
        prop_assert_eq!(err.code(), Some(code));
        prop_assert_eq!(err.msg(), Some(msg.as_str()));
        let expected = if code == 99991400 || status == 429 {
            aily_client::ErrorKind::RateLimited
        } else if aily_client::envelope::is_token_code(code) {
            aily_client::ErrorKind::Auth
        } else {
            aily_client::ErrorKind::Api
        };
        prop_assert_eq!(err.kind(), expected);
        prop_assert_eq!(aily_client::envelope::envelope_code(&body), Some(code));
    }

    /// The cheap code reader agrees with a full parse on any object with an integer code.
    #[test]
    fn envelope_code_reads_any_integer_code(
        code in any::<i64>(),
        rest in btree_map(key(), json(), 0..6),
    ) {
        let mut members: Map<String, Value> = rest.into_iter().collect();
        members.insert("code".to_owned(), code.into());
        let body = serde_json::to_vec(&Value::Object(members)).unwrap();
        prop_assert_eq!(aily_client::envelope::envelope_code(&body), Some(code));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// JSON nested up to 20,000 deep anywhere in a reply: an error or (in a member the
    /// client skips) a success, never a stack overflow.
    #[test]
    fn deep_nesting_never_overflows(depth in 1usize..20_000, objects in any::<bool>(), place in 0u8..5) {
        check_decode(reply(200, Some(b"L"), deeply_nested(depth, objects, place)));
    }
}

/// 10,000 deep in each place, with the outcome each gives. No decoding path recurses
/// per level: serde skips a member it does not read iteratively (so depth there is
/// no error at all), and a typed field refuses the wrong type at its first bracket;
/// serde_json's recursion limit (128) is the backstop for the rest.
#[test]
fn ten_thousand_deep_in_each_place() {
    use aily_client::ErrorKind::{Api, Decode};
    for place in 0..5 {
        for objects in [false, true] {
            let body = deeply_nested(10_000, objects, place);
            check_decode(reply(200, None, body.clone()));
            let result = <aily_client::CancelRequest as aily_client::AilyRequest>::decode(reply(
                200, None, body,
            ));
            let expected = match (place, objects) {
                // In an unknown member: skipped, the reply is a success.
                (1, _) => None,
                // `{"a":{"a":…}}` as the error block: an unknown member of it, skipped.
                (3, true) => Some(Api),
                _ => Some(Decode),
            };
            assert_eq!(
                result.as_ref().err().map(|e| e.kind()),
                expected,
                "place {place}, objects {objects}: {result:?}"
            );
        }
    }
}

/// The invariants are not vacuous: each rejects what it must (these would pass
/// silently if a check were missing).
#[test]
fn the_invariants_reject_broken_paths_and_outcomes() {
    use invariants::{check_request, check_run_path};
    let rejects = |what: &str, f: &dyn Fn()| {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        assert!(caught.is_err(), "the invariants accepted {what}");
    };
    const S: &str = "/open-apis/aily/v1/sessions/";
    rejects("a raw slash", &|| {
        check_run_path(&format!("{S}a/b/runs/r/cancel"), "/cancel", "a/b", "r")
    });
    rejects("a dot segment", &|| {
        check_run_path(&format!("{S}../runs/r/cancel"), "/cancel", "..", "r")
    });
    rejects("a raw question mark", &|| {
        check_run_path(&format!("{S}a?b/runs/r/cancel"), "/cancel", "a?b", "r")
    });
    rejects("a raw fragment", &|| {
        check_run_path(&format!("{S}s/runs/r#x/cancel"), "/cancel", "s", "r#x")
    });
    rejects("a segment decoding to another id", &|| {
        check_run_path(&format!("{S}a%20b/runs/r/cancel"), "/cancel", "a+b", "r")
    });
    rejects("a raw reserved character", &|| {
        check_run_path(&format!("{S}a+b/runs/r/cancel"), "/cancel", "a+b", "r")
    });
    rejects("a wrong suffix", &|| {
        check_run_path(&format!("{S}s/runs/r/cancel"), "", "s", "r")
    });
    rejects("valid ids refused", &|| {
        check_request::<aily_client::CancelRequest>(
            Err(aily_client::Error::new(
                aily_client::ErrorKind::InvalidInput,
                "invalid run_id",
            )),
            "/cancel",
            "s",
            "r",
        )
    });
    rejects("an error naming the wrong field", &|| {
        check_request::<aily_client::CancelRequest>(
            Err(aily_client::Error::new(
                aily_client::ErrorKind::InvalidInput,
                "invalid run_id",
            )),
            "/cancel",
            "",
            "r",
        )
    });
    // And accepts what is right.
    check_run_path(
        &format!("{S}a%2Fb/runs/r%3F/cancel"),
        "/cancel",
        "a/b",
        "r?",
    );
    check_run_path(&format!("{S}.../runs/%2E%2E"), "", "...", "..");
}

// ---------------------------------------------------------------- token lifetimes

fn any_expire() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => prop::sample::select(vec![i64::MIN, -1, 0, 1, 7199, 7200, 7201, 7_200_000, 7_200_001, i64::MAX]),
        3 => any::<i64>(),
        2 => -10_000i64..10_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever `expire` the token endpoint sends: refused when not positive or past
    /// `MAX_ACCEPTED_EXPIRE`, else a lifetime of at least 1 s and at most the
    /// documented bound — and exactly `expire` seconds when that is within it.
    #[test]
    fn any_expire_is_refused_or_a_bounded_lifetime(expire in any_expire()) {
        use aily_client::auth::{MAX_ACCEPTED_EXPIRE, MAX_TOKEN_LIFETIME, token_lifetime};
        match token_lifetime(expire) {
            Ok(d) => {
                prop_assert!(expire > 0 && expire <= MAX_ACCEPTED_EXPIRE);
                prop_assert!(d >= std::time::Duration::from_secs(1));
                prop_assert!(d <= MAX_TOKEN_LIFETIME);
                if expire as u64 <= MAX_TOKEN_LIFETIME.as_secs() {
                    prop_assert_eq!(d.as_secs(), expire as u64);
                }
            }
            Err(e) => {
                prop_assert!(expire <= 0 || expire > MAX_ACCEPTED_EXPIRE, "refused {}: {}", expire, e);
                prop_assert_eq!(e.kind(), aily_client::ErrorKind::Decode);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A token store told to keep a token for any duration (from outside: a reply or
    /// another replica) never panics and keeps it at most `MAX_TOKEN_LIFETIME`.
    #[test]
    fn a_local_store_bounds_any_time_to_live(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
        use aily_client::auth::{LocalTokenStore, MAX_TOKEN_LIFETIME, TokenKey, TokenStore};
        use aily_client::{AccessToken, SecretString, TokenKind};
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let ttl = rt.block_on(async {
            let store = LocalTokenStore::new();
            let key = TokenKey::tenant("http://127.0.0.1:1", "cli_p", &SecretString::new("s"));
            let token = AccessToken::new(TokenKind::Tenant, "t-prop").unwrap();
            store.save(&key, &token, std::time::Duration::new(secs, nanos)).await.unwrap();
            store.lock(&key, std::time::Duration::new(secs, nanos)).await.unwrap();
            store.load(&key).await.unwrap().map(|s| s.ttl)
        });
        if let Some(ttl) = ttl {
            prop_assert!(ttl <= MAX_TOKEN_LIFETIME);
        }
    }
}

// ---------------------------------------------------------------- event streams

/// Bytes that exercise the event-stream parser: field names, colons, spaces, every
/// line end, the BOM's bytes, NUL, invalid UTF-8, plus anything.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            &b"data"[..], b"data: ", b"event:", b"id: ", b"retry: ", b"123", b":", b" ",
            b"\n", b"\r", b"\r\n", b"\n\n", b"\xEF\xBB\xBF", b"\0", b"{\"status\":\"finished\"}",
            b"\xFF", b"\xE4\xBC", b"x",
        ]).prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 0..8),
    ];
    vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// What a parser makes of `input` cut at `cuts`: the events until the first error,
/// the error's kind and message, and whether the end came mid-event.
fn parse_split(
    input: &[u8],
    cuts: &[usize],
    max: usize,
) -> (Vec<aily_client::sse::Event>, Option<String>, bool) {
    let mut parser = aily_client::sse::Parser::with_max_frame_bytes(max);
    let mut events = Vec::new();
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    for end in bounds {
        if let Err(err) = parser.feed_into(&input[at..end], &mut events) {
            return (events, Some(format!("{:?}: {err}", err.kind())), false);
        }
        at = end;
    }
    let partial = parser.finish();
    (events, None, partial)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any bytes cut anywhere: never a panic, and the same events, error and end as
    /// the whole input fed at once.
    #[test]
    fn the_sse_parser_gives_the_same_events_whatever_the_split(
        input in sse_bytes(),
        cuts in vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(8usize), Just(64), Just(1 << 20)],
    ) {
        let whole = parse_split(&input, &[], max);
        let split = parse_split(&input, &cuts, max);
        prop_assert_eq!(&split, &whole);
        // Byte by byte, the finest split of all.
        let every: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(&parse_split(&input, &every, max), &whole);
        for event in &whole.0 {
            prop_assert!(event.data.len() + event.event.len() <= max);
            prop_assert!(!event.event.is_empty());
        }
    }
}
