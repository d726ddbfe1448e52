//! Misbehaving HTTP servers on 127.0.0.1 for fault injection: just enough HTTP/1.1 for
//! the SDKs to send a request and read an answer, and a [`Plan`] per request saying
//! how to misbehave. Each server runs as a task of the test's runtime, so it stops with
//! the test; a stalled connection is held open by that task until then.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The head of a request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
}

/// How the server treats one request.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Reads the request and never answers, holding the connection open.
    Silent,
    /// Reads the request and resets the connection (RST, no answer).
    Reset,
    /// Answers with `status`, `headers` and `body`; when `stall_after` is set, sends
    /// only that many bytes of the body and then nothing, holding the connection open.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        stall_after: Option<usize>,
    },
    /// Answers 200 with `body` in `pieces` pieces, one every `every`: slow, but never
    /// still for long.
    Trickle {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        pieces: usize,
        every: Duration,
    },
}

impl Plan {
    /// A 200 with `body` and the headers the SDKs need to accept an object's bytes.
    pub fn ok(body: &[u8]) -> Self {
        Self::Answer {
            status: 200,
            headers: object_headers(),
            body: body.to_vec(),
            stall_after: None,
        }
    }

    /// A 200 with the headers of `body` but only its first half, then nothing.
    pub fn half_then_stall(body: &[u8]) -> Self {
        Self::Answer {
            status: 200,
            headers: object_headers(),
            body: body.to_vec(),
            stall_after: Some(body.len() / 2),
        }
    }

    /// A 200 with `body` sent slowly: `pieces` pieces one `every` apart.
    pub fn trickle(body: &[u8], pieces: usize, every: Duration) -> Self {
        Self::Trickle {
            headers: object_headers(),
            body: body.to_vec(),
            pieces,
            every,
        }
    }
}

/// Headers of an object as S3, GCS and Azure all answer them well enough.
fn object_headers() -> Vec<(String, String)> {
    [
        ("Content-Type", "application/octet-stream"),
        ("ETag", "\"0123456789abcdef\""),
        ("Last-Modified", "Wed, 02 Dec 2026 10:00:00 GMT"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A running server: its address and how many requests it has seen.
pub struct Server {
    pub address: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Server {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Starts a server answering request number `n` (0-based, across connections) as
/// `plan(n, &request)` says.
pub async fn serve(plan: impl Fn(usize, &Request) -> Plan + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let plan = Arc::new(plan);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (plan, counter) = (plan.clone(), counter.clone());
            tokio::spawn(async move {
                let _ = connection(socket, &*plan, &counter).await;
            });
        }
    });
    Server { address, requests }
}

/// A server that accepts connections and never says a word.
pub async fn blackhole() -> Server {
    serve(|_, _| Plan::Silent).await
}

/// Serves the requests of one connection until it closes or a plan stalls it.
async fn connection(
    mut socket: TcpStream,
    plan: &(dyn Fn(usize, &Request) -> Plan + Send + Sync),
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buffered = Vec::new();
    loop {
        let Some(request) = read_request(&mut socket, &mut buffered).await? else {
            return Ok(());
        };
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let head_only = request.method == "HEAD";
        match plan(n, &request) {
            Plan::Silent => return hold(socket).await,
            Plan::Reset => {
                socket.set_zero_linger()?;
                return Ok(());
            }
            Plan::Answer {
                status,
                headers,
                body,
                stall_after,
            } => {
                socket
                    .write_all(&head(status, &headers, body.len()))
                    .await?;
                if head_only {
                    continue;
                }
                match stall_after {
                    Some(sent) => {
                        socket.write_all(&body[..sent]).await?;
                        socket.flush().await?;
                        return hold(socket).await;
                    }
                    None => socket.write_all(&body).await?,
                }
            }
            Plan::Trickle {
                headers,
                body,
                pieces,
                every,
            } => {
                socket.write_all(&head(200, &headers, body.len())).await?;
                if head_only {
                    continue;
                }
                for piece in body.chunks(body.len().div_ceil(pieces.max(1)).max(1)) {
                    tokio::time::sleep(every).await;
                    socket.write_all(piece).await?;
                    socket.flush().await?;
                }
            }
        }
    }
}

/// Keeps the connection open and silent until the test ends.
async fn hold(socket: TcpStream) -> std::io::Result<()> {
    std::future::pending::<()>().await;
    drop(socket);
    Ok(())
}

fn head(status: u16, headers: &[(String, String)], len: usize) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {len}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Reads one request (head and a `Content-Length` body); `None` when the peer closed.
async fn read_request(
    socket: &mut TcpStream,
    buffered: &mut Vec<u8>,
) -> std::io::Result<Option<Request>> {
    let end = loop {
        if let Some(end) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        buffered.extend_from_slice(&chunk[..read]);
    };
    let text = String::from_utf8_lossy(&buffered[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let mut body_len = 0usize;
    let mut expects_continue = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                body_len = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("expect")
                && value.eq_ignore_ascii_case("100-continue")
            {
                expects_continue = true;
            }
        }
    }
    buffered.drain(..end);
    if expects_continue {
        socket.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    while buffered.len() < body_len {
        let mut chunk = [0u8; 16 * 1024];
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        buffered.extend_from_slice(&chunk[..read]);
    }
    buffered.drain(..body_len);
    Ok(Some(Request { method, target }))
}

/// A server that takes request bodies slowly, `piece` bytes every `every`, then
/// answers 200 with an ETag (and, to an S3 `POST ?uploads`, a multipart upload's id).
/// Counts the body bytes it received.
pub async fn slow_reader(piece: usize, every: Duration) -> (Server, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let requests = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let (counter, total) = (requests.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (counter, total) = (counter.clone(), total.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let len: usize = text
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .unwrap_or(0);
                let mut left = len;
                let mut chunk = vec![0u8; piece];
                while left > 0 {
                    tokio::time::sleep(every).await;
                    let want = left.min(piece);
                    if socket.read_exact(&mut chunk[..want]).await.is_err() {
                        return;
                    }
                    left -= want;
                    total.fetch_add(want, Ordering::SeqCst);
                }
                let first_line = text.lines().next().unwrap_or_default();
                let body: &[u8] = if first_line.starts_with("post")
                    && first_line.contains("uploads")
                {
                    b"<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>key</Key><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>"
                } else {
                    b""
                };
                let mut answer = head_bytes(200, &object_headers(), body.len());
                answer.extend_from_slice(body);
                let _ = socket.write_all(&answer).await;
                std::future::pending::<()>().await;
            });
        }
    });
    (Server { address, requests }, received)
}

fn head_bytes(status: u16, headers: &[(String, String)], len: usize) -> Vec<u8> {
    head(status, headers, len)
}
