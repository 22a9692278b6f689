//! Runs: the record of one run, its lifecycle (`QUEUED` → `IN_PROGRESS` →
//! `COMPLETED`, `REQUIRES_MESSAGE` on demand, delayed cancels) and the create /
//! list / get / cancel run endpoints.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::conv::{Call, Conversations, Outcome};
use super::messages::MessageRecord;
use super::page;
use super::reply::ParamError;
use super::sessions::{MAX_JSON_TEXT, SessionRecord};
use super::util;

/// The Aily app id reported in every run added with `FakeAily::add_run`.
pub(crate) const FAKE_AILY_APP_ID: &str = "spring_fake__c";

/// Run statuses a cancel moves to `CANCELLED` (and that block a new run).
const ACTIVE: [&str; 3] = ["QUEUED", "IN_PROGRESS", "REQUIRES_MESSAGE"];

/// Statuses after which a run never changes again.
const TERMINAL: [&str; 4] = ["CANCELLED", "COMPLETED", "FAILED", "EXPIRED"];

/// How long created runs stay in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) queued: Duration,
    pub(crate) in_progress: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            queued: Duration::from_millis(200),
            in_progress: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
struct PendingCancel {
    /// `None`: the delay overflowed the clock, so the run never settles.
    at: Option<Instant>,
    ended_at_ms: u64,
}

/// The lifecycle of a run created through the API.
#[derive(Debug)]
struct Plan {
    /// When `IN_PROGRESS` begins (or began, or began again after a message).
    start: Instant,
    working: Duration,
    /// Waiting in `REQUIRES_MESSAGE` for a new message.
    paused: bool,
    answer: String,
}

/// What a run's assistant message looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnswerView {
    /// `false`: still being written (`IN_PROGRESS`).
    pub(crate) complete: bool,
    /// How many characters of the answer are written.
    pub(crate) chars: usize,
    /// When the message appeared (its `created_at`).
    pub(crate) since: Instant,
}

#[derive(Debug)]
pub(crate) struct RunRecord {
    id: String,
    pub(crate) seq: u64,
    status: String,
    app_id: String,
    metadata: String,
    created: Instant,
    created_at_ms: u64,
    started_at_ms: Option<u64>,
    ended_at_ms: Option<u64>,
    pending_cancel: Option<PendingCancel>,
    plan: Option<Plan>,
}

impl RunRecord {
    /// A run that keeps `status` until acted on (`FakeAily::add_run`).
    pub(crate) fn fixed(id: &str, seq: u64, status: &str) -> Self {
        let now = util::wall_millis();
        Self {
            id: id.to_owned(),
            seq,
            status: status.to_owned(),
            app_id: FAKE_AILY_APP_ID.to_owned(),
            metadata: "{}".to_owned(),
            created: Instant::now(),
            created_at_ms: now,
            started_at_ms: Some(now),
            ended_at_ms: TERMINAL.contains(&status).then_some(now),
            pending_cancel: None,
            plan: None,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn status(&self) -> &str {
        &self.status
    }

    pub(crate) fn is_active(&self) -> bool {
        ACTIVE.contains(&self.status.as_str())
    }

    /// Wall-clock milliseconds of an instant of this run's life.
    fn wall(&self, at: Instant) -> u64 {
        let offset = at.saturating_duration_since(self.created).as_millis();
        self.created_at_ms
            .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    /// Brings the status up to `now`: the lifecycle's steps and a delayed
    /// cancel that is due, whichever comes first.
    pub(crate) fn settle(&mut self, now: Instant) {
        if TERMINAL.contains(&self.status.as_str()) {
            return;
        }
        let cancel_due = match &self.pending_cancel {
            Some(PendingCancel { at: Some(at), .. }) if now >= *at => Some(*at),
            _ => None,
        };
        let until = cancel_due.unwrap_or(now);
        if let Some(plan) = self.plan.as_ref().filter(|p| !p.paused) {
            let start = plan.start;
            let done = start.checked_add(plan.working);
            if let Some(done) = done.filter(|d| until >= *d) {
                self.status = "COMPLETED".to_owned();
                self.started_at_ms.get_or_insert(self.wall(start));
                self.ended_at_ms = Some(self.wall(done));
                self.pending_cancel = None;
                return;
            }
            if until >= start {
                self.status = "IN_PROGRESS".to_owned();
                self.started_at_ms.get_or_insert(self.wall(start));
            } else {
                self.status = "QUEUED".to_owned();
            }
        }
        if cancel_due.is_some()
            && let Some(pending) = self.pending_cancel.take()
        {
            self.status = "CANCELLED".to_owned();
            self.ended_at_ms = Some(pending.ended_at_ms);
        }
    }

    /// Cancels an active run, at once or after `delay`.
    fn cancel(&mut self, delay: Duration) {
        if self.pending_cancel.is_some() || !self.is_active() {
            return;
        }
        let wall = util::wall_millis();
        if delay.is_zero() {
            self.status = "CANCELLED".to_owned();
            self.ended_at_ms = Some(wall);
        } else {
            let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.pending_cancel = Some(PendingCancel {
                at: Instant::now().checked_add(delay),
                ended_at_ms: wall.saturating_add(delay_ms),
            });
        }
    }

    /// `REQUIRES_MESSAGE` until the next message of the session. False if
    /// the run is already over.
    pub(crate) fn require_message(&mut self, now: Instant) -> bool {
        self.settle(now);
        if TERMINAL.contains(&self.status.as_str()) {
            return false;
        }
        self.status = "REQUIRES_MESSAGE".to_owned();
        if let Some(plan) = self.plan.as_mut() {
            plan.paused = true;
        }
        true
    }

    /// A new message arrived: a run waiting for one works again (its answer
    /// starts over, now answering `input`). True if this run was waiting.
    pub(crate) fn message_arrived(&mut self, now: Instant, input: &str) -> bool {
        self.settle(now);
        if self.status != "REQUIRES_MESSAGE" {
            return false;
        }
        self.status = "IN_PROGRESS".to_owned();
        if let Some(plan) = self.plan.as_mut() {
            plan.paused = false;
            plan.start = now;
            plan.answer = answer_text(input);
        }
        true
    }

    /// The answer text in full.
    pub(crate) fn answer(&self) -> &str {
        self.plan.as_ref().map_or("", |p| p.answer.as_str())
    }

    /// The assistant message as of `now` (after [`settle`](Self::settle)):
    /// `None` while queued, waiting for a message, or when the run ended
    /// without completing.
    pub(crate) fn answer_view(&self, now: Instant) -> Option<AnswerView> {
        let plan = self.plan.as_ref().filter(|p| !p.paused)?;
        let total = plan.answer.chars().count();
        match self.status.as_str() {
            "COMPLETED" => Some(AnswerView {
                complete: true,
                chars: total,
                since: plan.start,
            }),
            "IN_PROGRESS" if now >= plan.start => {
                let elapsed = now.saturating_duration_since(plan.start).as_secs_f64();
                let fraction = elapsed / plan.working.as_secs_f64().max(f64::MIN_POSITIVE);
                // At least one character, never all of them.
                let chars = ((total as f64 * fraction) as usize)
                    .max(1)
                    .min(total.saturating_sub(1));
                Some(AnswerView {
                    complete: false,
                    chars,
                    since: plan.start,
                })
            }
            _ => None,
        }
    }

    /// Wall-clock milliseconds of `at` (for the answer's `created_at`).
    pub(crate) fn wall_ms(&self, at: Instant) -> u64 {
        self.wall(at)
    }

    /// The run as the API renders it inside `data.run`.
    pub(crate) fn to_json(&self, session_id: &str) -> Value {
        let mut run = Map::new();
        run.insert("id".into(), self.id.as_str().into());
        run.insert("created_at".into(), self.created_at_ms.to_string().into());
        run.insert("app_id".into(), self.app_id.as_str().into());
        run.insert("session_id".into(), session_id.into());
        run.insert("status".into(), self.status.as_str().into());
        if let Some(started) = self.started_at_ms {
            run.insert("started_at".into(), started.to_string().into());
        }
        if let Some(ended) = self.ended_at_ms {
            run.insert("ended_at".into(), ended.to_string().into());
        }
        if self.status == "FAILED" {
            run.insert(
                "error".into(),
                json!({"code": "sp_ec_sm_900101", "message": "技能不存在或已删除"}),
            );
        }
        run.insert("metadata".into(), self.metadata.as_str().into());
        Value::Object(run)
    }
}

/// The fake assistant's answer to `input`.
pub(crate) fn answer_text(input: &str) -> String {
    if input.is_empty() {
        "This is the fake answer.".to_owned()
    } else {
        format!("This is the fake answer to: {input}")
    }
}

impl SessionRecord {
    /// Every run, settled to `now`, oldest first.
    pub(crate) fn runs_json(&mut self, now: Instant) -> Vec<Value> {
        let session_id = self.id().to_owned();
        let mut runs: Vec<&mut RunRecord> = self.runs.values_mut().collect();
        runs.sort_by_key(|r| r.seq);
        runs.into_iter()
            .map(|run| {
                run.settle(now);
                run.to_json(&session_id)
            })
            .collect()
    }

    /// The run, settled to now; created `IN_PROGRESS` on first use when
    /// unknown ids are accepted.
    fn run_mut(
        &mut self,
        run_id: &str,
        now: Instant,
        create: Option<u64>,
    ) -> Result<&mut RunRecord, ParamError> {
        if let Some(seq) = create.filter(|_| !self.runs.contains_key(run_id)) {
            self.runs.insert(
                run_id.to_owned(),
                RunRecord::fixed(run_id, seq, "IN_PROGRESS"),
            );
        }
        let run = self
            .runs
            .get_mut(run_id)
            .ok_or_else(|| ParamError::new("run_id", run_id, "run not found"))?;
        run.settle(now);
        Ok(run)
    }
}

impl Conversations {
    /// The session and run of a call, settled to now.
    pub(crate) fn find_run(
        &mut self,
        session_id: &str,
        run_id: &str,
        now: Instant,
    ) -> Result<&mut RunRecord, ParamError> {
        let create = self.accept_any_ids.then(|| self.next_seq());
        self.session_mut(session_id)?.run_mut(run_id, now, create)
    }

    /// `POST …/sessions/:aily_session_id/runs`.
    pub(crate) fn create_run(&mut self, call: &Call, now: Instant) -> Outcome {
        let app_id = call.required_str("app_id", 64)?;
        let skill_id = call.body_str("skill_id", 32)?;
        let skill_input = call.body_str("skill_input", MAX_JSON_TEXT)?;
        let metadata = call.body_str("metadata", MAX_JSON_TEXT)?;
        if skill_input.is_some() && skill_id.is_none() {
            return Err(ParamError::hidden("skill_input", "only with skill_id"));
        }
        let seq = self.next_seq();
        let schedule = self.schedule;
        let session = self.session_mut(&call.session)?;
        for run in session.runs.values_mut() {
            run.settle(now);
        }
        if session.runs.values().any(RunRecord::is_active) {
            return Err(ParamError::new(
                "aily_session_id",
                &call.session,
                "the session already has an active run",
            ));
        }
        let id = util::base32_id("run_", 13);
        let input = session.claim_messages(&id);
        let answer_id = util::base32_id("message_", 13);
        let wall = util::wall_millis();
        let mut run = RunRecord {
            id: id.clone(),
            seq,
            status: "QUEUED".to_owned(),
            app_id: app_id.to_owned(),
            metadata: metadata.unwrap_or("{}").to_owned(),
            created: now,
            created_at_ms: wall,
            started_at_ms: None,
            ended_at_ms: None,
            pending_cancel: None,
            plan: Some(Plan {
                start: now.checked_add(schedule.queued).unwrap_or(now),
                working: schedule.in_progress,
                paused: false,
                answer: answer_text(&input),
            }),
        };
        run.settle(now);
        let data = json!({ "run": run.to_json(&call.session) });
        session.messages.insert(
            answer_id.clone(),
            MessageRecord::answer(&answer_id, &id, seq),
        );
        session.runs.insert(id, run);
        Ok(data)
    }

    /// `GET …/sessions/:aily_session_id/runs`: oldest first.
    pub(crate) fn list_runs(&mut self, call: &Call, now: Instant) -> Outcome {
        let max = self.max_page_size;
        let items = self.session_mut(&call.session)?.runs_json(now);
        page::render(call, max, "runs", items)
    }

    /// `GET …/runs/:run_id`.
    pub(crate) fn get_run(&mut self, call: &Call, now: Instant) -> Outcome {
        let run_id = call.run.as_deref().unwrap_or_default();
        let run = self.find_run(&call.session, run_id, now)?;
        Ok(json!({ "run": run.to_json(&call.session) }))
    }

    /// `POST …/runs/:run_id/cancel`.
    pub(crate) fn cancel_run(&mut self, call: &Call, now: Instant) -> Outcome {
        let delay = self.cancel_delay;
        let run_id = call.run.as_deref().unwrap_or_default();
        let run = self.find_run(&call.session, run_id, now)?;
        run.cancel(delay);
        Ok(json!({ "run": run.to_json(&call.session) }))
    }
}
