//! The operator endpoint: `/metrics` (Prometheus text), `/healthz` (process
//! alive), `/readyz` (every component running). It runs on a thread of its own
//! with a small tokio runtime, so a busy engine never delays a scrape.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::oneshot;

use super::Health;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the metrics server thread: {0}")]
    Thread(std::io::Error),
}

/// A running endpoint; dropping it stops the server.
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and serves until dropped.
    /// `extra` is merged into the same listener (the admin API shares it), so
    /// operators open one port; pass `Router::new()` for none.
    pub fn start(
        addr: SocketAddr,
        metrics: PrometheusHandle,
        health: Health,
        extra: Router,
    ) -> Result<Self, ServerError> {
        Self::start_with(addr, metrics, health, |_| extra)
    }

    /// [`MetricsServer::start`] with the extra routes made once the listener
    /// is bound, from its address (the admin API checks requests name it).
    pub fn start_with(
        addr: SocketAddr,
        metrics: PrometheusHandle,
        health: Health,
        extra: impl FnOnce(SocketAddr) -> Router,
    ) -> Result<Self, ServerError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        listener.set_nonblocking(true).map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(metrics, health).merge(extra(local_addr));
        let thread = std::thread::Builder::new()
            .name("flowctl-metrics".into())
            .spawn(move || serve(listener, app, stopped))
            .map_err(ServerError::Thread)?;
        tracing::info!(%local_addr, "serving /metrics, /healthz and /readyz");
        Ok(Self { local_addr, stop: Some(stop), thread: Some(thread) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: std::net::TcpListener, app: Router, stopped: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => return tracing::error!(%err, "metrics server runtime failed to start"),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(err) => return tracing::error!(%err, "metrics server listener failed"),
        };
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(%err, "metrics server stopped");
        }
    });
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    health: Health,
}

fn router(metrics: PrometheusHandle, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(AppState { metrics, health })
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

async fn readiness(State(state): State<AppState>) -> impl IntoResponse {
    match state.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(reasons) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready:\n{}\n", reasons.join("\n"))),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    #[test]
    fn serves_health_readiness_and_metrics() {
        let handle = crate::telemetry::exporter::install().expect("recorder");
        metrics::counter!("flowctl_test_counter_total").increment(3);
        let health = Health::new();
        let server = MetricsServer::start("127.0.0.1:0".parse().expect("addr"), handle, health.clone(), Router::new())
            .expect("start");
        let addr = server.local_addr();

        assert_eq!(get(addr, "/healthz").0, 200);
        let (status, body) = get(addr, "/readyz");
        assert_eq!(status, 503, "{body}");
        health.set_up("src");
        assert_eq!(get(addr, "/readyz").0, 200);
        health.set_down("src", "stopped");
        let (status, body) = get(addr, "/readyz");
        assert_eq!(status, 503);
        assert!(body.contains("src: stopped"), "{body}");

        let (status, body) = get(addr, "/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("flowctl_test_counter_total 3"), "{body}");
        assert!(body.contains("flowctl_build_info"), "{body}");
    }
}
