//! A log destination for the tests that install the process-wide subscriber and then read
//! what the service wrote (secrets never logged, trace ids in lines, one line per outage).

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common::TestApp;

/// Every log byte the service writes, shared with the test (clone it into the subscriber).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes).expect("log output is UTF-8")
    }

    /// How many lines written so far contain `message`.
    pub fn count(&self, message: &str) -> usize {
        self.text()
            .lines()
            .filter(|line| line.contains(message))
            .count()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestApp {
    /// Stops the service gracefully and waits for it: every line it logs is written by then.
    pub async fn stop(mut self) {
        let _ = self.shutdown_handle().send(());
        let _ = self.server_handle().await;
    }
}
