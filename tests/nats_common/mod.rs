//! A real `nats-server -js` for the tests: on a free loopback port with a
//! temporary store, stopped when dropped; and a client to fill and read
//! JetStream streams. `scripts/nats-server.sh` installs the server (README's
//! test command runs it and exports `NATS_SERVER`).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

pub struct NatsServer {
    pub url: String,
    port: u16,
    child: Child,
    store: tempfile::TempDir,
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return path.into();
    }
    for candidate in ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!("nats-server is not installed: run scripts/nats-server.sh (README's test command does)");
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let store = tempfile::tempdir().unwrap();
        let child = spawn(port, store.path());
        NatsServer { url: format!("nats://127.0.0.1:{port}"), port, child, store }
    }

    /// Stops the server (SIGKILL) and starts it again on the same port and store.
    /// The server's process id (benches read its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.port, self.store.path());
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    async fn context(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.url).await.unwrap())
    }

    /// Creates `stream` on `subject` and publishes `payloads` to it, each acknowledged.
    pub fn publish(&self, stream: &str, subject: &str, payloads: Vec<Vec<u8>>) {
        self.block_on(async {
            let js = self.context().await;
            let config = stream::Config { name: stream.into(), subjects: vec![subject.into()], ..Default::default() };
            js.get_or_create_stream(config).await.unwrap();
            let mut acks = Vec::new();
            for payload in payloads {
                acks.push(js.publish(subject.to_owned(), payload.into()).await.unwrap());
                if acks.len() >= 1000 {
                    for ack in acks.drain(..) {
                        ack.await.unwrap();
                    }
                }
            }
            for ack in acks {
                ack.await.unwrap();
            }
        })
    }

    /// Waits until `stream` holds `n` messages (polling one connection every 10 ms), or `limit` passed.
    pub fn wait_for_count(&self, stream: &str, n: u64, limit: Duration) -> bool {
        self.block_on(async {
            let js = self.context().await;
            let start = Instant::now();
            while start.elapsed() < limit {
                if let Ok(mut s) = js.get_stream(stream).await {
                    if s.info().await.map(|i| i.state.messages).unwrap_or(0) >= n {
                        return true;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        })
    }

    /// Messages `stream` holds now (0 before it exists).
    pub fn count(&self, stream: &str) -> u64 {
        self.block_on(async {
            let js = self.context().await;
            match js.get_stream(stream).await {
                Ok(mut s) => s.info().await.unwrap().state.messages,
                Err(_) => 0,
            }
        })
    }

    /// Every message of `stream`: (its `Nats-Msg-Id` header, its payload).
    pub fn read_all(&self, stream: &str) -> Vec<(String, Vec<u8>)> {
        let total = self.count(stream);
        self.block_on(async {
            let js = self.context().await;
            let stream = js.get_stream(stream).await.unwrap();
            let reader = stream.create_consumer(consumer::pull::OrderedConfig::default()).await.unwrap();
            let mut messages = reader.messages().await.unwrap();
            let mut out = Vec::new();
            while (out.len() as u64) < total {
                let message = messages.next().await.unwrap().unwrap();
                let id = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                out.push((id, message.payload.to_vec()));
            }
            out
        })
    }
}

fn spawn(port: u16, store: &std::path::Path) -> Child {
    let child = Command::new(binary())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
