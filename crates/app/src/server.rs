//! The accept loop: HTTP/1.1 over hyper, with the limits `axum::serve` cannot set.
//!
//! - A connection that has begun a request but not finished its headers within the header-read
//!   timeout is closed (slowloris), and so is a keep-alive connection with no request and no
//!   traffic for the idle timeout. Both are measured per connection from what it reads and
//!   writes and whether a request is in flight (see [`Activity`]).
//! - Shutdown drains, then is bounded: readiness turns 503 at once, but for the drain period
//!   the service still accepts and serves, every response closing its connection, so that a
//!   load balancer sees it leave before it stops listening. Then the listener closes (new
//!   connections are refused), every connection finishes its in-flight request and closes,
//!   and whatever still runs after the grace period is dropped, so the process can exit.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The connection-level time limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// From the first byte of a request to the end of its headers.
    pub(crate) header_read: Duration,
    /// With no request in flight and no bytes moving.
    pub(crate) idle: Duration,
    /// How long in-flight requests may take to finish once the listener is closed.
    pub(crate) grace: Duration,
    /// How long the service keeps accepting after shutdown begins, readiness answering 503.
    pub(crate) drain: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, drains for `limits.drain`, then
/// shuts down within `limits.grace`. `draining` is set as shutdown begins (readiness answers
/// 503 from then on, and every response closes its connection).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    draining: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let accepting = Accepting {
        listener: &listener,
        router: &router,
        limits,
        draining: &draining,
        stopped: &stopped,
    };
    accepting.until(shutdown, &mut connections).await;
    draining.store(true, Ordering::SeqCst);
    if !limits.drain.is_zero() {
        tracing::info!(
            drain_secs = limits.drain.as_secs_f64(),
            "draining: readiness answers 503, requests are still served"
        );
        accepting
            .until(tokio::time::sleep(limits.drain), &mut connections)
            .await;
    }
    drop(listener);
    let _ = stop.send(true);
    let finished = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_secs = limits.grace.as_secs_f64(),
            "grace period over; closing the connections still open"
        );
        connections.shutdown().await;
    }
}

/// The accept loop's borrowed parts.
struct Accepting<'a> {
    listener: &'a TcpListener,
    router: &'a Router,
    limits: Limits,
    draining: &'a Arc<AtomicBool>,
    stopped: &'a watch::Receiver<bool>,
}

impl Accepting<'_> {
    /// Accepts connections, each served by a task in `connections`, until `done` completes.
    async fn until(&self, done: impl Future<Output = ()>, connections: &mut JoinSet<()>) {
        tokio::pin!(done);
        loop {
            tokio::select! {
                () = &mut done => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(connection(
                            stream,
                            self.router.clone(),
                            self.limits,
                            self.draining.clone(),
                            self.stopped.clone(),
                        ));
                    }
                    Err(err) if is_per_connection(&err) => {
                        tracing::debug!(error = %err, "accepting a connection failed");
                    }
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %err, "accepting connections failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
            while connections.try_join_next().is_some() {}
        }
    }
}

/// Errors that concern one connection only; the listener itself is fine.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until the client closes it, a time limit closes it, or shutdown
/// lets its last request finish.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    draining: Arc<AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let busy = requests.begin_request();
        let router = router.clone();
        let draining = draining.clone();
        async move {
            let mut response = router.oneshot(request).await;
            drop(busy);
            // While draining, a keep-alive client is told to reconnect, which a load balancer
            // sends elsewhere: the connection closes after this response, never mid-request.
            if draining.load(Ordering::SeqCst)
                && let Ok(response) = &mut response
            {
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            response
        }
    });
    let mut builder = http1::Builder::new();
    // The activity below enforces the header-read timeout; hyper's own would also cut idle
    // keep-alive connections at the same limit.
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let watchdog = watchdog(&activity, limits);
    tokio::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            reason = &mut watchdog => {
                // Dropping the connection closes the socket; no request is in flight.
                tracing::debug!(reason, "closing a connection");
                return;
            }
            _ = stopped.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Completes when the connection has been idle, or reading one request head, for too long.
async fn watchdog(activity: &Activity, limits: Limits) -> &'static str {
    loop {
        let changed = activity.changed.notified();
        match activity.deadline(limits) {
            Some((deadline, reason)) if deadline <= Instant::now() => return reason,
            Some((deadline, _)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = changed => {}
                }
            }
            None => changed.await,
        }
    }
}

/// What one connection is doing, as far as its time limits are concerned.
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when a deadline may have moved earlier.
    changed: Notify,
}

struct ActivityState {
    /// Requests handed to the router and not yet answered.
    in_flight: usize,
    /// When the connection last became free for a new request (accepted, or last answered).
    free_since: Instant,
    /// When the first byte of the next request head arrived.
    head_started: Option<Instant>,
    /// When bytes were last written (a response still streaming is not idle).
    last_write: Instant,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                free_since: now,
                head_started: None,
                last_write: now,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, ActivityState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the connection is to be closed, and why; `None` while a request is in flight
    /// (the request timeout bounds that).
    fn deadline(&self, limits: Limits) -> Option<(Instant, &'static str)> {
        let state = self.state();
        if state.in_flight > 0 {
            return None;
        }
        Some(match state.head_started {
            Some(started) => (started + limits.header_read, "header read timeout"),
            None => (
                state.free_since.max(state.last_write) + limits.idle,
                "idle timeout",
            ),
        })
    }

    fn read(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.state().last_write = Instant::now();
    }

    fn begin_request(self: &Arc<Self>) -> Busy {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_started = None;
        Busy(self.clone())
    }
}

/// A request in flight; dropping it (answered, or abandoned) frees the connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.free_since = Instant::now();
        state.head_started = None;
        drop(state);
        self.0.changed.notify_one();
    }
}

/// A socket that tells its [`Activity`] when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
