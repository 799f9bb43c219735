//! A TCP proxy of the test's own between the service and PostgreSQL, to take the database away
//! from a running service and give it back: [`Proxy::cut`] closes every connection and refuses
//! new ones, [`Proxy::stall`] keeps connections open but forwards no byte, [`Proxy::restore`]
//! forwards again (stalled connections resume where they stopped). [`Proxy::stall_on`] stalls
//! only the connection that just sent a given statement, so that it is stuck in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    Stalled,
    Cut,
    /// Forwards, until a connection sends bytes containing the marker: those are forwarded,
    /// and from then on that connection alone forwards nothing either way.
    StallOn(&'static [u8]),
}

/// A running proxy; dropping it stops it and closes every connection.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
    /// How many connections [`Mode::StallOn`] has stalled so far.
    tripped: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Open);
        let modes = mode.clone();
        let tripped = Arc::new(AtomicUsize::new(0));
        let trips = tripped.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                tokio::spawn(pipe(client, upstream, modes.subscribe(), trips.clone()));
            }
        });
        Self {
            addr,
            mode,
            accept,
            tripped,
        }
    }

    /// Where the service should connect instead of the database.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection now and closes each new one as soon as it is accepted.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Keeps every connection (and accepts new ones) but forwards nothing either way.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stalled);
    }

    /// Forwards everything, except that a connection sending `marker` (a statement's text:
    /// the loopback link has no TLS) is stalled right after the marker went through, so the
    /// statement is in flight and its answer never comes back. Pings and other statements pass.
    pub fn stall_on(&self, marker: &'static [u8]) {
        self.mode.send_replace(Mode::StallOn(marker));
    }

    /// How many connections [`Proxy::stall_on`] has stalled so far.
    pub fn tripped(&self) -> usize {
        self.tripped.load(Ordering::SeqCst)
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.mode.send_replace(Mode::Cut);
    }
}

/// Waits while stalled (this connection, when it `tripped` a [`Mode::StallOn`]); `false` once
/// cut (or the proxy is gone).
async fn until_open(mode: &mut watch::Receiver<Mode>, tripped: &mut bool) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Open => {
                *tripped = false;
                return true;
            }
            Mode::Cut => return false,
            Mode::StallOn(_) if !*tripped => return true,
            Mode::Stalled | Mode::StallOn(_) => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// Forwards one client connection, obeying the mode; returning closes both sides.
async fn pipe(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    trips: Arc<AtomicUsize>,
) {
    let mut tripped = false;
    if !until_open(&mut mode, &mut tripped).await {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    loop {
        if !until_open(&mut mode, &mut tripped).await {
            return;
        }
        // Reads are cancel-safe: a mode change drops them without losing a byte.
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if server_write.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                    if let Mode::StallOn(marker) = *mode.borrow()
                        && up[..n].windows(marker.len()).any(|w| w == marker)
                    {
                        tripped = true;
                        trips.fetch_add(1, Ordering::SeqCst);
                    }
                }
            },
            read = server_read.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}
