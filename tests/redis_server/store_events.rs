//! The Redis store's events, recorded by a tracing layer the test installs as (part of)
//! the process's global subscriber, so a test can count its WARNs and INFOs.

use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level};
use tracing_subscriber::layer::Context;

/// (level, message) of every event of the Redis store.
pub static EVENTS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

/// The layer that records into [`EVENTS`].
pub struct StoreEvents;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StoreEvents {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "aily_client::store::redis" {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        EVENTS
            .lock()
            .unwrap()
            .push((*event.metadata().level(), message.0));
    }
}

/// How many recorded events of `level` contain `text`.
pub fn count(level: Level, text: &str) -> usize {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, m)| *l == level && m.contains(text))
        .count()
}
