//! What the TRACE-capture tests share: a writer that keeps everything a
//! `tracing_subscriber::fmt` subscriber writes to it.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that keeps everything written to it.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
