//! What an [`Error`] says about a run: [`Error::last_run`], and the errors that
//! carry one (a run that ended badly, a wait that ran out). Here, beside the run
//! model, so `error` does not depend on it.

use std::sync::Arc;
use std::time::Duration;

use crate::api::runs::Run;
use crate::error::{AttachedRun, Error, ErrorKind, TimeoutKind};

impl AttachedRun for Run {
    fn status(&self) -> &str {
        self.status.as_str()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Error {
    /// The run ended `FAILED`, `EXPIRED` or `CANCELLED`: the error carries it.
    pub(crate) fn run_ended(run: Run) -> Error {
        let why = match &run.error {
            Some(e) => format!("the run ended {}: {} {}", run.status, e.code, e.message),
            None => format!("the run ended {}", run.status),
        };
        Error::new(ErrorKind::RunEnded, why).with_last_run(Arc::new(run))
    }

    /// The wait for a terminal status ran out after `after`; `last` is the last run
    /// seen and the log id of the reply that carried it.
    pub(crate) fn wait_timeout(after: Duration, last: Option<(Run, Option<String>)>) -> Error {
        let err = Error::timeout(TimeoutKind::Wait, after);
        match last {
            Some((run, log_id)) => err.with_log_id(log_id).with_last_run(Arc::new(run)),
            None => err,
        }
    }

    /// For a [`TimeoutKind::Wait`] error: the last run seen before the deadline; for
    /// a [`ErrorKind::RunEnded`] error: the run.
    pub fn last_run(&self) -> Option<&Run> {
        self.attached_run()?.as_any().downcast_ref()
    }
}
