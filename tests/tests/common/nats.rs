//! A `nats-server -js` per test, for the relay's tests.

use std::process::{Child, Command, Stdio};

use app::relay::STREAM;
use serde_json::Value;

use super::wait_until;

/// A `nats-server -js` of this test's own, stopped on drop.
pub struct Nats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl Nats {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Self {
            port,
            store: tempfile::tempdir().unwrap(),
            child: None,
        };
        nats.restart().await;
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port and store) and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed");
        self.child = Some(child);
        let url = self.url();
        wait_until("nats-server accepts connections", || {
            let url = url.clone();
            async move { async_nats::connect(url).await.is_ok() }
        })
        .await;
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.url()).await.unwrap())
    }

    /// Every message of the stream, in stream order: (subject, Nats-Msg-Id, envelope).
    pub async fn stored(&self) -> Vec<(String, String, Value)> {
        let js = self.jetstream().await;
        let Ok(mut stream) = js.get_stream(STREAM).await else {
            return Vec::new();
        };
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut messages = Vec::new();
        for sequence in 1..=last {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let id = message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .unwrap()
                .to_string();
            let envelope: Value = serde_json::from_slice(&message.payload).unwrap();
            messages.push((message.subject.to_string(), id, envelope));
        }
        messages
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
