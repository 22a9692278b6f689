//! A `tracing` subscriber layer that keeps every span (with its parent) and
//! event, with their fields: the recorder of tests/observability.rs and
//! tests/lifecycle_trace.rs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug, Default)]
pub struct SpanRec {
    pub name: &'static str,
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

/// The process's recorder, installed as the global subscriber at TRACE on first use.
pub fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = Recorder::default();
        let subscriber = tracing_subscriber::registry()
            .with(recorder.clone())
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        recorder
    })
}

pub fn field<'a>(span: &'a SpanRec, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}
