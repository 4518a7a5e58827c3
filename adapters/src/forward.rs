//! A standby's listeners (cluster mode, docs/cluster.md): every connection is forwarded, its
//! bytes as they are, to the owner's listener for the same protocol, so that any node accepts
//! any request. TLS passes through to the owner, which ends it. A client whose connection
//! breaks when the owner changes retries with the same ids, and idempotency absorbs the retry.

use std::sync::Arc;
use std::time::Duration;

use kassa_cluster::{Addresses, StandbyView};
use tokio::io::AsyncWriteExt;
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
        let Ok((client, _)) = accepted else { continue };
        let owner = view.owner();
        tokio::spawn(async move {
            forward(client, protocol, owner).await;
            drop(permit);
        });
    }
}

/// Copies bytes both ways between `client` and the owner's listener until either side closes.
async fn forward(mut client: TcpStream, protocol: Protocol, owner: Option<Addresses>) {
    let _ = client.set_nodelay(true);
    let Some(owner) = owner else {
        if let Protocol::Http { tls: false } = protocol {
            let _ = client.write_all(NO_OWNER).await;
        }
        return;
    };
    let target = protocol.target(&owner).to_string();
    let connected = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&target)).await;
    let Ok(Ok(mut upstream)) = connected else {
        tracing::debug!(%target, "the owner did not accept a forwarded connection");
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_no_owner_answer_is_well_formed() {
        let text = std::str::from_utf8(NO_OWNER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
