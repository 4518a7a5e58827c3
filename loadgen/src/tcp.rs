//! The TCP target: `kassa serve`'s binary protocol through the adapters' pipelining client. It
//! carries engine commands as they are, so every scenario step goes over it; `depth` workers
//! share one connection. The protocol has no reads: the conservation check queries balances over
//! HTTP (`--http-addr`).

use std::net::SocketAddr;
use std::sync::Arc;

use kassa_adapters::tcp::{Client, SerialClient};
use kassa_engine::Command;

/// Commands per setup batch (well inside the protocol's frame limit).
const SETUP_BATCH: usize = 2_000;

/// Connects and shakes hands with an admin key.
pub async fn connect(addr: SocketAddr, api_key: &str) -> Result<Arc<Client>, String> {
    Client::connect(addr, api_key).await.map(Arc::new).map_err(|error| format!("TCP {addr}: {error}"))
}

/// Connects a one-request-at-a-time client (for depth 1: no pipelining machinery).
pub async fn connect_serial(addr: SocketAddr, api_key: &str) -> Result<SerialClient, String> {
    SerialClient::connect(addr, api_key).await.map_err(|error| format!("TCP {addr}: {error}"))
}

/// Submits the setup phases in batches; every command must apply.
pub async fn setup(client: &Client, phases: &[Vec<Command>]) -> Result<(), String> {
    for phase in phases {
        for chunk in phase.chunks(SETUP_BATCH) {
            let outcomes = client.submit_batch(chunk.to_vec()).await.map_err(|error| format!("setup: {error}"))?;
            if let Some((command, outcome)) = chunk.iter().zip(&outcomes).find(|(_, outcome)| !outcome.is_applied()) {
                return Err(format!("setup: {} refused: {outcome:?}", command.kind()));
            }
        }
    }
    Ok(())
}
