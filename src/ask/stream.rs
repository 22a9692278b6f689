//! [`Ask::stream`](super::Ask::stream): the answer as it is written.

use std::collections::HashMap;
use std::collections::VecDeque;

use tokio::time::Instant;

use super::{Answer, Ask, assistant_messages, finish};
use crate::api::messages::Message;
use crate::api::runs::{RunHandle, RunStatus, WaitOptions};
use crate::client::Client;
use crate::error::Error;

/// One update of a streamed answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskEvent {
    /// The run started: its session and run IDs.
    Started {
        /// The session's ID.
        session_id: String,
        /// The run's ID.
        run_id: String,
    },
    /// An assistant message grew: `delta` is the text added since the last update
    /// of this message (only what changed).
    Delta {
        /// The message's ID.
        message_id: String,
        /// The new text.
        delta: String,
    },
    /// An assistant message was rewritten (its text is no longer an extension of
    /// what was sent before): `content` is the whole of it now.
    Replaced {
        /// The message's ID.
        message_id: String,
        /// The message's text now.
        content: String,
    },
    /// The run stopped (`COMPLETED` or `REQUIRES_MESSAGE`): the final messages and
    /// the run. The last event.
    Done(Box<Answer>),
}

enum Phase {
    Start(Box<Ask>),
    Watch(Box<Watch>),
    Over,
}

struct Watch {
    client: Client,
    handle: RunHandle,
    deadline: Instant,
    options: WaitOptions,
    interval: std::time::Duration,
    /// What has been sent of each assistant message.
    sent: HashMap<String, String>,
}

struct State {
    phase: Phase,
    events: VecDeque<Result<AskEvent, Error>>,
}

pub(super) fn ask_stream(
    ask: Ask,
) -> impl futures_core::Stream<Item = Result<AskEvent, Error>> + Send + 'static {
    let state = State {
        phase: Phase::Start(Box::new(ask)),
        events: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.events.pop_front() {
                return Some((event, state));
            }
            match std::mem::replace(&mut state.phase, Phase::Over) {
                Phase::Over => return None,
                Phase::Start(ask) => {
                    let deadline = Instant::now() + ask.wait.timeout;
                    match ask.requests() {
                        Err(e) => state.events.push_back(Err(e)),
                        Ok(requests) => match ask.start_by(requests, deadline).await {
                            Err(e) => state.events.push_back(Err(e)),
                            Ok(handle) => {
                                state.events.push_back(Ok(AskEvent::Started {
                                    session_id: handle.session_id().to_owned(),
                                    run_id: handle.run_id().to_owned(),
                                }));
                                state.phase = Phase::Watch(Box::new(Watch {
                                    client: ask.client.clone(),
                                    handle,
                                    deadline,
                                    interval: ask.wait.initial_interval,
                                    options: ask.wait.clone(),
                                    sent: HashMap::new(),
                                }));
                            }
                        },
                    }
                }
                Phase::Watch(mut watch) => match watch.step(&mut state.events).await {
                    // Keep watching; dropping the stream drops the handle: cancelled.
                    Ok(false) => state.phase = Phase::Watch(watch),
                    Ok(true) => {}
                    Err(e) => {
                        let (session_id, run_id) =
                            (watch.handle.session_id(), watch.handle.run_id());
                        let e = e.with_ask_ids(session_id, Some(run_id));
                        state.events.push_back(Err(e));
                    }
                },
            }
        }
    })
}

impl Watch {
    /// One look at the run and its messages. `Ok(true)` once the run has stopped
    /// (its `Done`, or its error, queued).
    async fn step(
        &mut self,
        events: &mut VecDeque<Result<AskEvent, Error>>,
    ) -> Result<bool, Error> {
        let wake = Instant::now() + self.interval;
        if wake >= self.deadline {
            tokio::time::sleep_until(self.deadline).await;
            let last = (self.handle.run().clone(), None);
            // The handle is dropped with the stream's state: the run is cancelled.
            return Err(Error::wait_timeout(self.options.timeout, Some(last)));
        }
        tokio::time::sleep_until(wake).await;
        self.interval = (self.interval * 2).min(self.options.max_interval);
        // The read, the messages and the final read, all by the ask's deadline.
        let deadline = self.deadline;
        match tokio::time::timeout_at(deadline, self.look(events)).await {
            Ok(stopped) => stopped,
            Err(_) => {
                let last = (self.handle.run().clone(), None);
                Err(Error::wait_timeout(self.options.timeout, Some(last)))
            }
        }
    }

    async fn look(
        &mut self,
        events: &mut VecDeque<Result<AskEvent, Error>>,
    ) -> Result<bool, Error> {
        let read = self
            .client
            .get_run(self.handle.session_id(), self.handle.run_id());
        let run = read.await?.into_data().run;
        let stopped = run.status.is_terminal() || run.status == RunStatus::RequiresMessage;
        self.handle.set_run(run)?;
        let (session_id, run_id) = (self.handle.session_id(), self.handle.run_id());
        let messages = assistant_messages(&self.client, session_id, run_id, !stopped).await?;
        for message in &messages {
            self.diff(message, events);
        }
        if !stopped {
            return Ok(false);
        }
        let answer = finish(&self.client, &mut self.handle).await?;
        events.push_back(Ok(AskEvent::Done(Box::new(answer))));
        Ok(true)
    }

    /// Queues what changed in `message` since it was last sent.
    fn diff(&mut self, message: &Message, events: &mut VecDeque<Result<AskEvent, Error>>) {
        let sent = self.sent.entry(message.id.clone()).or_default();
        let now = message.content.as_deref().unwrap_or_default();
        if now == sent {
            return;
        }
        let event = match now.strip_prefix(sent.as_str()) {
            Some(delta) => AskEvent::Delta {
                message_id: message.id.clone(),
                delta: delta.to_owned(),
            },
            None => AskEvent::Replaced {
                message_id: message.id.clone(),
                content: now.to_owned(),
            },
        };
        *sent = now.to_owned();
        events.push_back(Ok(event));
    }
}
