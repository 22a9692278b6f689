//! The TRACE capture: one global subscriber per test binary, installed on first use,
//! with three layers, each off until a test asks for it:
//!
//! * [`recorder()`]: a layer that keeps every span (with its parent) and event, with
//!   their fields (tests that pick their own spans out by name, session or port);
//! * [`capture()`]: everything a `tracing_subscriber::fmt` subscriber at TRACE (with
//!   span events) would print, as text;
//! * [`store_events()`]: the Redis store's events, counted by level and message.
//!
//! Once a layer is on it records every test of the binary. A test that needs to be
//! the only one recording (its positive *and* negative assertions read the whole
//! capture) calls [`alone()`], which also empties the recorder and the capture.
#![allow(dead_code)] // also included alone, by tests/fake

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug, Default)]
pub struct SpanRec {
    pub name: &'static str,
    /// The span's target (a module path, for `RUST_LOG` filters).
    pub target: &'static str,
    pub level: String,
    pub parent: Option<usize>,
    pub fields: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct EventRec {
    pub level: String,
    pub parent: Option<usize>,
    pub fields: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct Store {
    pub spans: Vec<SpanRec>,
    pub open: HashMap<u64, usize>,
    pub events: Vec<EventRec>,
}

impl Store {
    /// Every field of every span and event, one `name=value` a line.
    pub fn everything(&self) -> String {
        self.spans
            .iter()
            .flat_map(|s| s.fields.iter())
            .chain(self.events.iter().flat_map(|e| e.fields.iter()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A subscriber layer that keeps every span (with its parent) and event, with fields.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Store>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut store = self.0.lock().unwrap();
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .and_then(|p| store.open.get(&p.id().into_u64()).copied());
        let mut rec = SpanRec {
            name: attrs.metadata().name(),
            target: attrs.metadata().target(),
            level: attrs.metadata().level().to_string(),
            parent,
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut rec.fields));
        store.spans.push(rec);
        let index = store.spans.len() - 1;
        store.open.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut store = self.0.lock().unwrap();
        if let Some(&i) = store.open.get(&id.into_u64()) {
            values.record(&mut Fields(&mut store.spans[i].fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut store = self.0.lock().unwrap();
        let parent = ctx
            .event_span(event)
            .and_then(|s| store.open.get(&s.id().into_u64()).copied());
        let mut rec = EventRec {
            level: event.metadata().level().to_string(),
            parent,
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut rec.fields));
        store.events.push(rec);
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        self.0.lock().unwrap().open.remove(&id.into_u64());
    }
}

/// A writer that keeps everything written to it.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The binary's global subscriber: its three layers and their switches.
struct Global {
    recorder: Recorder,
    capture: Capture,
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static CAPTURING: AtomicBool = AtomicBool::new(false);
static STORE_EVENTS: AtomicBool = AtomicBool::new(false);

/// A per-layer filter that lets everything through once `switch` is on (decided per
/// span and event, so turning it on later takes effect at once).
fn switched(
    switch: &'static AtomicBool,
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(move |_| switch.load(Ordering::Relaxed))
}

/// Installs the global subscriber at TRACE, once per process.
fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        use tracing_subscriber::Layer as _;
        let recorder = Recorder::default();
        let capture = Capture::default();
        let writer = capture.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry()
            .with(recorder.clone().with_filter(switched(&RECORDING)))
            .with(fmt.with_filter(switched(&CAPTURING)))
            .with(store_events_layer().with_filter(switched(&STORE_EVENTS)))
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        Global { recorder, capture }
    })
}

#[cfg(feature = "redis")]
fn store_events_layer() -> super::redis_server::store_events::StoreEvents {
    super::redis_server::store_events::StoreEvents
}

/// Without Redis there is no store to hear from: a layer that keeps nothing.
#[cfg(not(feature = "redis"))]
fn store_events_layer() -> tracing_subscriber::layer::Identity {
    tracing_subscriber::layer::Identity::new()
}

/// The binary's recorder of spans and events, on from now on.
pub fn recorder() -> &'static Recorder {
    let global = global();
    RECORDING.store(true, Ordering::Relaxed);
    &global.recorder
}

/// The binary's fmt capture at TRACE with span events, on from now on.
pub fn capture() -> &'static Capture {
    let global = global();
    CAPTURING.store(true, Ordering::Relaxed);
    &global.capture
}

/// The Redis store's events ([`super::redis_server::store_events::count`]), recorded from now on.
pub fn store_events() {
    global();
    STORE_EVENTS.store(true, Ordering::Relaxed);
}

/// This test alone records from now on: it waits for every other test of the binary
/// that called [`alone()`] or [`super::serial::beside_others()`] to end, keeps the others
/// out until its own thread ends ([`super::serial::alone()`]), then empties the recorder
/// and the capture and turns both on.
pub fn alone() -> (&'static Recorder, &'static Capture) {
    super::serial::alone();
    let global = global();
    {
        let mut store = global.recorder.0.lock().unwrap();
        store.spans.clear();
        store.open.clear();
        store.events.clear();
    }
    global.capture.0.lock().unwrap().clear();
    (recorder(), capture())
}

pub fn field<'a>(span: &'a SpanRec, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}
