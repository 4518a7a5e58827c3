//! A standby's listeners (cluster mode, docs/cluster.md): every connection is forwarded, its
//! bytes as they are, to the owner's listener for the same protocol, so that any node accepts
//! any request. TLS passes through to the owner, which ends it. A client whose connection
//! breaks when the owner changes retries with the same ids, and idempotency absorbs the retry.

use std::sync::Arc;
use std::time::Duration;

use kassa_cluster::{Addresses, StandbyView};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Which of the owner's listeners a listener forwards to.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// HTTP/JSON: answered 503 by the standby itself while no owner is known (without TLS).
    Http {
        /// Whether the listener speaks TLS (then nothing is answered in clear).
        tls: bool,
    },
    /// The TCP binary protocol.
    Tcp,
    /// ISO 8583.
    Iso8583,
}

impl Protocol {
    fn target(self, owner: &Addresses) -> &str {
        match self {
            Protocol::Http { .. } => &owner.http,
            Protocol::Tcp => &owner.tcp,
            Protocol::Iso8583 => &owner.iso8583,
        }
    }
}

/// What a plain HTTP client gets while no owner is known (a takeover under way).
const NO_OWNER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 88\r\n\r\n\
{\"error\":{\"code\":\"no_owner\",\"message\":\"this standby knows no owner yet: retry shortly\"}}";

/// Listeners forwarding to the owner until stopped.
pub struct Forwarder {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Forwarder {
    /// Forwards every connection of `listeners`; at most `connections_max` at once (more wait
    /// in the backlog).
    pub fn start(
        listeners: Vec<(std::net::TcpListener, Protocol)>,
        view: Arc<StandbyView>,
        connections_max: usize,
    ) -> Result<Forwarder, String> {
        let (stop, stopping) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(connections_max.max(1)));
        let mut tasks = Vec::new();
        for (listener, protocol) in listeners {
            listener.set_nonblocking(true).map_err(|error| error.to_string())?;
            let listener = TcpListener::from_std(listener).map_err(|error| error.to_string())?;
            let (view, permits, stopping) = (view.clone(), permits.clone(), stopping.clone());
            tasks.push(tokio::spawn(accept(listener, protocol, view, permits, stopping)));
        }
        Ok(Forwarder { stop, tasks })
    }

    /// Stops accepting and closes the listeners (connections being forwarded go on).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn accept(
    listener: TcpListener,
    protocol: Protocol,
    view: Arc<StandbyView>,
    permits: Arc<Semaphore>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            _ = stopping.changed() => return,
            permit = permits.clone().acquire_owned() => match permit { Ok(permit) => permit, Err(_) => return },
        };
        let accepted = tokio::select! {
            _ = stopping.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let client = match accepted {
            Ok((client, _)) => client,
            Err(error) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!(%error, "a standby's accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let owner = view.owner();
        tokio::spawn(async move {
            forward(client, protocol, owner).await;
            drop(permit);
        });
    }
}

/// What a plain HTTP client asking this standby's `/health` gets: the process is alive,
/// whether or not the owner is.
const ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\
content-length: 15\r\n\r\n{\"status\":\"ok\"}";

/// The longest request line a standby reads before forwarding (plain HTTP).
const REQUEST_LINE_MAX: usize = 1_024;

/// Copies bytes both ways between `client` and the owner's listener until either side closes.
/// A plain HTTP connection's first request line is read first: `/health` is this process's
/// own liveness, answered here; anything else goes on to the owner with it.
async fn forward(mut client: TcpStream, protocol: Protocol, owner: Option<Addresses>) {
    let _ = client.set_nodelay(true);
    let mut head = Vec::new();
    if let Protocol::Http { tls: false } = protocol {
        let read = tokio::time::timeout(Duration::from_secs(10), read_request_line(&mut client, &mut head)).await;
        if read.is_err() {
            return; // Nothing within the deadline: a connection costs a standby no more than that.
        }
        if head.starts_with(b"GET /health ") || head.starts_with(b"GET /health?") {
            return answer_and_close(client, ALIVE).await;
        }
    }
    let Some(owner) = owner else {
        let answer: &[u8] = if let Protocol::Http { tls: false } = protocol { NO_OWNER } else { b"" };
        return answer_and_close(client, answer).await;
    };
    let target = protocol.target(&owner).to_string();
    let connected = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&target)).await;
    let Ok(Ok(mut upstream)) = connected else {
        tracing::debug!(%target, "the owner did not accept a forwarded connection");
        return;
    };
    let _ = upstream.set_nodelay(true);
    if upstream.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Writes `answer`, closes the sending side, and reads what the client still sends for up to
/// a second (64 KiB at most), so that the answer is not lost to a reset of unread bytes.
async fn answer_and_close(mut client: TcpStream, answer: &[u8]) {
    let _ = client.write_all(answer).await;
    let _ = client.shutdown().await;
    let mut sink = [0u8; 4_096];
    let drain = async {
        for _ in 0..16 {
            if matches!(client.read(&mut sink).await, Ok(0) | Err(_)) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Reads from `client` into `head` until a line ends, [`REQUEST_LINE_MAX`] bytes are in, or
/// the client stops sending.
async fn read_request_line(client: &mut TcpStream, head: &mut Vec<u8>) {
    let mut chunk = [0u8; 512];
    while head.len() < REQUEST_LINE_MAX && !head.contains(&b'\n') {
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&chunk[..read]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standbys_own_answers_are_well_formed() {
        for answer in [NO_OWNER, ALIVE] {
            let text = std::str::from_utf8(answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            serde_json::from_str::<serde_json::Value>(body).unwrap();
        }
    }

    /// `request` sent to `address`; everything answered until the connection closes.
    async fn exchange(address: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
        answer
    }

    #[tokio::test]
    async fn a_standby_forwards_bytes_as_they_are_and_answers_its_own_health() {
        // The owner: echoes what it receives.
        let owner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let owner_address = owner.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = owner.accept().await {
                tokio::spawn(async move {
                    let (mut reader, mut writer) = stream.split();
                    let _ = tokio::io::copy(&mut reader, &mut writer).await;
                });
            }
        });
        let listener = |protocol| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            (listener.local_addr().unwrap(), (listener, protocol))
        };
        let (http, http_listener) = listener(Protocol::Http { tls: false });
        let (tcp, tcp_listener) = listener(Protocol::Tcp);
        let view = Arc::new(StandbyView::default());
        let forwarder = Forwarder::start(vec![http_listener, tcp_listener], view.clone(), 8).unwrap();

        // No owner known: HTTP gets 503 no_owner, other protocols are closed; /health is 200.
        let answer = exchange(http, b"GET /v1/accounts/a HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with(b"HTTP/1.1 503"), "{}", String::from_utf8_lossy(&answer));
        assert_eq!(exchange(tcp, b"\x00\x01frame").await, b"");
        assert_eq!(exchange(http, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await, ALIVE);

        // With an owner: every byte reaches it, the request line read first included.
        let addresses = Addresses { http: owner_address.clone(), tcp: owner_address.clone(), iso8583: owner_address };
        view.set_owner(Some(addresses));
        let request = b"POST /v1/transfers HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(exchange(http, request).await, request);
        assert_eq!(exchange(tcp, b"\x00\x01frame").await, b"\x00\x01frame");
        assert_eq!(exchange(http, b"GET /health HTTP/1.1\r\n\r\n").await, ALIVE, "the standby's own liveness");
        forwarder.stop().await;
        assert!(TcpStream::connect(tcp).await.is_err(), "stopped: the listener is closed");
    }
}
