//! A shaping TCP proxy: the bench's cloud-like link.
//!
//! Loopback to a local server answers in microseconds at gigabytes per second, so it
//! hides what decides a transfer's time on a real cloud: one connection to an object
//! store carries some tens of MB/s, and every response starts tens of milliseconds
//! after its request. The kernel here has no netem, so the bench puts this proxy
//! between the tools and the server. Each accepted connection gets its own upstream
//! connection and, in each direction, its own rate cap (so parallel streams add up,
//! as they do against S3); the first bytes the server sends after the client has
//! sent something (a new request) wait [`Shape::first_byte_delay`] before they are
//! forwarded. That delay is per response of an HTTP/1.1 connection, which sends one
//! request at a time; an interim `100 Continue` is a response too, as on a real link.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the link does to each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Bytes per second each connection carries in each direction.
    pub bytes_per_second: u64,
    /// The wait before the first byte of each response.
    pub first_byte_delay: Duration,
}

impl Shape {
    /// The bench's cloud-like link: 64 MiB/s per connection, 20 ms to first byte,
    /// about what one connection to S3 in the same region does.
    pub const CLOUD: Shape = Shape {
        bytes_per_second: 64 * 1024 * 1024,
        first_byte_delay: Duration::from_millis(20),
    };
}

/// A running proxy; dropping it closes its listener and every connection.
#[derive(Debug)]
pub struct Shaper {
    addr: SocketAddr,
    counters: Arc<Counters>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What went through the proxy since it started.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    bytes: AtomicU64,
}

/// Read size of each forwarding step: small enough that pacing is smooth at the
/// cap, large enough that the proxy's own CPU stays low.
const STEP: usize = 64 * 1024;

/// How far a connection may run ahead of its rate before it sleeps.
const SLACK: Duration = Duration::from_millis(5);

impl Shaper {
    /// Listens on a free loopback port and forwards each connection to `upstream`,
    /// shaped as `shape` says.
    pub fn start(upstream: SocketAddr, shape: Shape) -> Result<Shaper> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("a socket address"),
            upstream,
            shape,
        )
    }

    /// [`Shaper::start`] on the address `listen`.
    pub fn start_on(listen: SocketAddr, upstream: SocketAddr, shape: Shape) -> Result<Shaper> {
        if shape.bytes_per_second == 0 {
            bail!("a shaping proxy needs a rate above 0 bytes per second");
        }
        let listener =
            StdListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        // Two threads: the proxy must not be what limits a run of many streams, and
        // the bench machine has two cores.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shaper")
            .enable_all()
            .build()
            .context("starting the shaping proxy's runtime")?;
        let counters = Arc::new(Counters::default());
        let accepting = Arc::clone(&counters);
        runtime.spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(error) => {
                    eprintln!("shaper: cannot listen on {addr}: {error}");
                    return;
                }
            };
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                accepting.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(proxy(client, upstream, shape, Arc::clone(&accepting)));
            }
        });
        Ok(Shaper {
            addr,
            counters,
            runtime: Some(runtime),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Bytes forwarded so far, both directions together.
    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Forwards one connection both ways until both sides are done.
async fn proxy(client: TcpStream, upstream: SocketAddr, shape: Shape, counters: Arc<Counters>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        // The client sees its connection close, as with a refused connection.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Set when the client has sent bytes the server has not answered yet.
    let request_sent = Arc::new(AtomicBool::new(false));
    let requests = pump(
        client_read,
        server_write,
        shape,
        Turn::Request(Arc::clone(&request_sent)),
        Arc::clone(&counters),
    );
    let responses = pump(
        server_read,
        client_write,
        shape,
        Turn::Response(request_sent),
        counters,
    );
    tokio::join!(requests, responses);
}

/// Which way a pump forwards, and the flag the two ways share.
enum Turn {
    /// Client to server: marks that a request went out.
    Request(Arc<AtomicBool>),
    /// Server to client: delays the first bytes after a request.
    Response(Arc<AtomicBool>),
}

/// Copies `from` to `to` at most at the shape's rate, then half-closes `to`.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shape: Shape,
    turn: Turn,
    counters: Arc<Counters>,
) {
    let mut buffer = vec![0u8; STEP];
    // When the bytes sent so far are due, at the capped rate. Never more than `SLACK`
    // behind `now` when a read starts: an idle connection banks no credit for a burst.
    let mut due = Instant::now();
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        match &turn {
            Turn::Request(sent) => sent.store(true, Ordering::Release),
            Turn::Response(sent) => {
                if sent.swap(false, Ordering::AcqRel) {
                    tokio::time::sleep(shape.first_byte_delay).await;
                }
            }
        }
        let now = Instant::now();
        // `due` may lag `now` by up to `SLACK`: a sleep overshoots by up to the timer's
        // millisecond, and resetting to `now` after each would lose that time (a
        // single stream measured 0.8 of the rate). More lag is idle time, not credit.
        let floor = now.checked_sub(SLACK).unwrap_or(now);
        due = due.max(floor) + pace(read, shape.bytes_per_second);
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
        counters.bytes.fetch_add(read as u64, Ordering::Relaxed);
        // The timer's granularity is a millisecond, longer than a step at the cap:
        // sleeping after every step would halve the rate. Steps run ahead by up to
        // `SLACK`, then one sleep brings the average back to the rate.
        if due > now + SLACK {
            tokio::time::sleep_until(due).await;
        }
    }
    let _ = to.shutdown().await;
}

/// How long `bytes` take at `bytes_per_second`.
fn pace(bytes: usize, bytes_per_second: u64) -> Duration {
    Duration::from_nanos((bytes as u64).saturating_mul(1_000_000_000) / bytes_per_second)
}

/// `cargo xtask shaper --upstream HOST:PORT [--listen HOST:PORT] [--rate-mib N]
/// [--delay-ms N]`: runs the proxy in the foreground until interrupted.
pub fn run(args: &[String]) -> Result<()> {
    let mut upstream = None;
    let mut listen = None;
    let mut shape = Shape::CLOUD;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value"))
                .map(String::as_str)
        };
        match flag.as_str() {
            "--upstream" => upstream = Some(value()?.parse().context("--upstream HOST:PORT")?),
            "--listen" => listen = Some(value()?.parse().context("--listen HOST:PORT")?),
            "--rate-mib" => {
                let mib: u64 = value()?.parse().context("--rate-mib N (MiB/s)")?;
                shape.bytes_per_second = mib * 1024 * 1024;
            }
            "--delay-ms" => {
                let ms: u64 = value()?.parse().context("--delay-ms N")?;
                shape.first_byte_delay = Duration::from_millis(ms);
            }
            other => bail!(
                "unknown shaper argument {other:?}: expected --upstream, --listen, --rate-mib or --delay-ms"
            ),
        }
    }
    let upstream = upstream.context("--upstream HOST:PORT is required")?;
    let shaper = match listen {
        Some(listen) => Shaper::start_on(listen, upstream, shape)?,
        None => Shaper::start(upstream, shape)?,
    };
    println!(
        "shaping {} -> {upstream}: {} MiB/s per connection each way, {} ms to each response's first byte (Ctrl-C stops)",
        shaper.addr(),
        shape.bytes_per_second / (1024 * 1024),
        shape.first_byte_delay.as_millis()
    );
    let mut reported = 0;
    loop {
        std::thread::sleep(Duration::from_secs(10));
        let bytes = shaper.bytes();
        if bytes != reported {
            reported = bytes;
            println!(
                "{} connections, {} MiB forwarded",
                shaper.connections(),
                bytes / (1024 * 1024)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    /// A server that answers each request line with `reply_len` bytes.
    fn echo_server(reply_len: usize) -> SocketAddr {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                std::thread::spawn(move || {
                    let mut line = [0u8; 1];
                    while stream.read_exact(&mut line).is_ok() {
                        if stream.write_all(&vec![7u8; reply_len]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn every_byte_comes_through_in_order_both_ways() {
        let upstream = echo_server(300_000);
        let shaper = Shaper::start(
            upstream,
            Shape {
                bytes_per_second: u64::MAX / 2,
                first_byte_delay: Duration::ZERO,
            },
        )
        .expect("start");
        let mut client = TcpStream::connect(shaper.addr()).expect("connect");
        for _ in 0..3 {
            client.write_all(b"x").expect("request");
            let mut reply = vec![0u8; 300_000];
            client.read_exact(&mut reply).expect("reply");
            assert!(reply.iter().all(|&b| b == 7));
        }
        assert_eq!(shaper.connections(), 1);
        // The proxy counts a step once its write returned, which may be after the
        // client has read it: wait for the count to settle, then check it exactly.
        let expected = 3 * 300_001;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while shaper.bytes() < expected && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(shaper.bytes(), expected);
    }

    #[test]
    fn pacing_spreads_bytes_at_the_rate() {
        assert_eq!(
            pace(64 * 1024, 64 * 1024 * 1024),
            Duration::from_nanos(976_562)
        );
        assert_eq!(pace(1024, 1024), Duration::from_secs(1));
    }

    #[test]
    fn a_rate_of_zero_is_refused() {
        let error = Shaper::start(
            "127.0.0.1:9".parse().expect("addr"),
            Shape {
                bytes_per_second: 0,
                first_byte_delay: Duration::ZERO,
            },
        )
        .expect_err("zero rate");
        assert!(error.to_string().contains("rate above 0"));
    }
}
