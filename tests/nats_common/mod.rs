//! A real `nats-server -js` for the tests: on a loopback port it picks, with a
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
    /// Starts a server on a port it picks itself (`-p -1`) and reads back from
    /// its ports file: a port picked here and handed over could be taken by
    /// another test's connection in between.
    pub fn start() -> NatsServer {
        let store = tempfile::tempdir().unwrap();
        let (child, port) = spawn(None, store.path());
        NatsServer { url: format!("nats://127.0.0.1:{port}"), port, child, store }
    }

    /// The server's process id (benches read its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server (SIGKILL) and starts it again on the same port and store.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(Some(self.port), self.store.path()).0;
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    /// A client connection, retried for a while: CI once saw the first
    /// connect reset (on a port picked by the test, which the server now picks).
    async fn context(&self) -> jetstream::Context {
        let start = Instant::now();
        loop {
            match async_nats::connect(&self.url).await {
                Ok(client) => return jetstream::new(client),
                Err(e) if start.elapsed() < Duration::from_secs(10) => {
                    eprintln!("connecting to nats-server at {}: {e}; retrying", self.url);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    panic!("cannot connect to nats-server at {}: {e}\n{}", self.url, server_log(self.store.path()))
                }
            }
        }
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

const LOG: &str = "nats-server.log";

/// What the server in `store` logged (its stderr), for a failing test's message.
fn server_log(store: &std::path::Path) -> String {
    std::fs::read_to_string(store.join(LOG)).unwrap_or_default()
}

/// Starts `nats-server -js` on `port` (one it picks when `None`) and waits until
/// it greets a client; returns the child and its port.
fn spawn(port: Option<u16>, store: &std::path::Path) -> (Child, u16) {
    let ports_dir = store.join("ports");
    let _ = std::fs::remove_dir_all(&ports_dir);
    std::fs::create_dir_all(&ports_dir).unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(store.join(LOG)).unwrap();
    let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
    let mut child = Command::new(binary())
        .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "--ports_file_dir"])
        .arg(&ports_dir)
        .arg("-sd")
        .arg(store.join("data"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("nats-server exited at start ({status}):\n{}", server_log(store));
        }
        // The ports file is written once the client listener is up.
        if let Some(port) = listening_port(&ports_dir) {
            if greets(port) {
                return (child, port);
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "nats-server did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The client port from the server's ports file (`{"nats":["nats://127.0.0.1:4222"]}`).
fn listening_port(dir: &std::path::Path) -> Option<u16> {
    let file = std::fs::read_dir(dir).ok()?.flatten().find(|e| e.path().extension().is_some_and(|x| x == "ports"))?;
    let ports: serde_json::Value = serde_json::from_slice(&std::fs::read(file.path()).ok()?).ok()?;
    ports["nats"][0].as_str()?.rsplit(':').next()?.parse().ok()
}

/// Whether a NATS server answers on `port`: it sends `INFO {...}` to every new client.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO"
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
