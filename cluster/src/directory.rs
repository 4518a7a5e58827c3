//! What every node of a cluster shares about its data directory, and a node's directory made
//! from the cluster's when the node has none (or lost it).
//!
//! The shared facts are:
//! - the server key: the secure codes' HMAC secret, which also keys the placement of accounts;
//! - the number of partitions;
//! - the id table's size;
//! - how long resolved objects stay in memory.
//!
//! Replaying the same log under other facts would decide differently. The first node to join
//! writes them once to the key-value bucket `<prefix>_cluster` (key `directory`). Every
//! directory a node opens must match them. A node without a directory creates one from them,
//! readable by its owner only, and then fills its log from the streams (`replica.rs`).
//!
//! The bucket holds the server key: NATS must be private to the cluster (docs/cluster.md).

use std::path::Path;

use async_nats::jetstream::Context;
use async_nats::jetstream::kv::{Config, CreateErrorKind, Store};
use async_nats::jetstream::stream::StorageType;
use bytes::Bytes;
use kassa_engine::Durability;
use kassa_engine::wal::{Wal, WalError};

use crate::replica::JoinError;

const KEY: &str = "directory";
const VERSION: u8 = 1;

/// What every directory of one cluster has alike.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryFacts {
    /// The server key.
    pub secret: [u8; 32],
    /// Partitions.
    pub partitions: u16,
    /// Most ids the id table remembers.
    pub ids_max: u64,
    /// How long resolved objects stay in memory, in milliseconds.
    pub resolved_in_memory_ms: u64,
}

impl std::fmt::Debug for DirectoryFacts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DirectoryFacts")
            .field("partitions", &self.partitions)
            .field("ids_max", &self.ids_max)
            .field("resolved_in_memory_ms", &self.resolved_in_memory_ms)
            .finish_non_exhaustive()
    }
}

impl DirectoryFacts {
    fn encode(&self) -> Bytes {
        let mut bytes = vec![VERSION];
        bytes.extend_from_slice(&self.secret);
        bytes.extend_from_slice(&self.partitions.to_be_bytes());
        bytes.extend_from_slice(&self.ids_max.to_be_bytes());
        bytes.extend_from_slice(&self.resolved_in_memory_ms.to_be_bytes());
        Bytes::from(bytes)
    }

    fn decode(bytes: &[u8]) -> Option<DirectoryFacts> {
        let (&[VERSION], rest) = bytes.split_first_chunk::<1>()? else { return None };
        let (secret, rest) = rest.split_first_chunk::<32>()?;
        let (partitions, rest) = rest.split_first_chunk::<2>()?;
        let (ids_max, rest) = rest.split_first_chunk::<8>()?;
        let resolved: [u8; 8] = rest.try_into().ok()?;
        let (partitions, ids_max) = (u16::from_be_bytes(*partitions), u64::from_be_bytes(*ids_max));
        // Facts no engine would open with are damaged ones: refused here, not at open.
        let ids_max_max = u64::try_from(kassa_engine::state_machine::IDS_MAX_MAX).unwrap_or(u64::MAX);
        if !(1..=kassa_engine::partition::PARTITIONS_MAX).contains(&partitions) || ids_max > ids_max_max {
            return None;
        }
        Some(DirectoryFacts {
            secret: *secret,
            partitions,
            ids_max,
            resolved_in_memory_ms: u64::from_be_bytes(resolved),
        })
    }

    /// The facts an existing directory holds (`None` for one never opened by an engine).
    pub fn of(wal: &Wal) -> Result<Option<DirectoryFacts>, WalError> {
        let (Some(secret), Some(partitions), Some(ids_max), Some(resolved_in_memory_ms)) = (
            wal.stored_secret_key()?,
            wal.stored_partitions()?,
            wal.stored_ids_max()?,
            wal.stored_resolved_in_memory_ms()?,
        ) else {
            return Ok(None);
        };
        Ok(Some(DirectoryFacts { secret, partitions, ids_max: ids_max as u64, resolved_in_memory_ms }))
    }

    /// Creates the data directory `dir` with these facts (readable by its owner only) and
    /// returns its log, empty.
    pub fn create(&self, dir: &Path) -> Result<Wal, JoinError> {
        kassa_engine::wal::dir::create_private_dir(dir).map_err(JoinError::Diverged)?;
        let wal = Wal::open(dir, Durability::Sync)?;
        wal.check_storage_format()?;
        wal.secret_key(|| self.secret)?;
        wal.partitions(self.partitions)?;
        wal.ids_max(usize::try_from(self.ids_max).unwrap_or(usize::MAX))?;
        wal.resolved_in_memory_ms(self.resolved_in_memory_ms)?;
        Ok(wal)
    }
}

/// The cluster's facts: those in the bucket, which `local` (this node's directory's, if it has
/// one) must match; or, for the first node, `local` or else `new()`, written to the bucket.
pub async fn shared(
    js: &Context,
    prefix: &str,
    replicas: usize,
    local: Option<DirectoryFacts>,
    new: impl FnOnce() -> DirectoryFacts,
) -> Result<DirectoryFacts, JoinError> {
    let nats = |error: &dyn std::fmt::Display| JoinError::Connect(error.to_string());
    let bucket = format!("{prefix}_cluster");
    let store: Store = match js.get_key_value(&bucket).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(Config {
                bucket,
                history: 1,
                storage: StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|error| nats(&error))?,
    };
    let facts = match store.get(KEY).await.map_err(|error| nats(&error))? {
        Some(bytes) => DirectoryFacts::decode(&bytes)
            .ok_or_else(|| JoinError::Diverged("the cluster's directory facts are damaged".into()))?,
        None => {
            let facts = local.clone().unwrap_or_else(new);
            match store.create(KEY, facts.encode()).await {
                Ok(_) => facts,
                Err(error) if error.kind() == CreateErrorKind::AlreadyExists => {
                    // Another node wrote them first: take theirs.
                    let bytes = store.get(KEY).await.map_err(|error| nats(&error))?.unwrap_or_default();
                    DirectoryFacts::decode(&bytes)
                        .ok_or_else(|| JoinError::Diverged("the cluster's directory facts are damaged".into()))?
                }
                Err(error) => return Err(nats(&error)),
            }
        }
    };
    if local.as_ref().is_some_and(|local| *local != facts) {
        return Err(JoinError::Diverged(format!(
            "this data directory ({:?}) is not of this cluster ({facts:?}, or another server key)",
            local.expect("checked")
        )));
    }
    Ok(facts)
}

/// Where a node answers requests (`host:port` each): what standbys forward to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// HTTP/JSON.
    pub http: String,
    /// The TCP binary protocol.
    pub tcp: String,
    /// ISO 8583.
    pub iso8583: String,
}

fn addresses_key(node: &str) -> String {
    format!("node.{node}")
}

/// Publishes `node`'s addresses in the cluster's bucket (created by [`shared`] before).
pub async fn publish_addresses(js: &Context, prefix: &str, node: &str, addresses: &Addresses) -> Result<(), JoinError> {
    let nats = |error: &dyn std::fmt::Display| JoinError::Connect(error.to_string());
    let store = js.get_key_value(format!("{prefix}_cluster")).await.map_err(|error| nats(&error))?;
    let value = format!("{} {} {}", addresses.http, addresses.tcp, addresses.iso8583);
    store.put(addresses_key(node), Bytes::from(value)).await.map_err(|error| nats(&error))?;
    Ok(())
}

/// The addresses `node` published, if any.
pub async fn addresses_of(js: &Context, prefix: &str, node: &str) -> Option<Addresses> {
    let store = js.get_key_value(format!("{prefix}_cluster")).await.ok()?;
    let value = store.get(addresses_key(node)).await.ok()??;
    let text = String::from_utf8(value.to_vec()).ok()?;
    let mut parts = text.split(' ').map(str::to_string);
    let (http, tcp, iso8583) = (parts.next()?, parts.next()?, parts.next()?);
    Some(Addresses { http, tcp, iso8583 })
}

/// The file of a data directory that names the epochs its node last owned the partitions
/// with: written before the node's first entry in any stream, so that a node finding the
/// streams' last entries written with exactly those epochs knows it wrote last, and that its
/// local log's records beyond the streams are its own unacknowledged tail.
const OWNED_EPOCHS: &str = "cluster-owned-epochs";

/// The epochs the directory's node last owned each partition with (`None`: it never owned).
pub fn owned_epochs(dir: &Path) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(dir.join(OWNED_EPOCHS)).ok()?;
    text.split_whitespace().map(|epoch| epoch.parse().ok()).collect()
}

/// Records the epochs this node now owns each partition with, durably, before it writes.
pub fn record_owned_epochs(dir: &Path, epochs: &[u64]) -> Result<(), JoinError> {
    use std::io::Write;
    let failed = |error: std::io::Error| JoinError::Diverged(format!("writing {OWNED_EPOCHS}: {error}"));
    let text: Vec<String> = epochs.iter().map(u64::to_string).collect();
    let temporary = dir.join(format!("{OWNED_EPOCHS}.new"));
    let mut file = std::fs::File::create(&temporary).map_err(failed)?;
    file.write_all(text.join(" ").as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temporary, dir.join(OWNED_EPOCHS)).map_err(failed)?;
    std::fs::File::open(dir).and_then(|dir| dir.sync_all()).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_decode_as_encoded_and_damaged_ones_are_refused() {
        let facts = DirectoryFacts { secret: [3; 32], partitions: 4, ids_max: 1 << 20, resolved_in_memory_ms: 60_000 };
        assert_eq!(DirectoryFacts::decode(&facts.encode()), Some(facts.clone()));
        let encoded = facts.encode();
        for cut in 0..encoded.len() {
            assert_eq!(DirectoryFacts::decode(&encoded[..cut]), None, "cut at {cut}");
        }
        let mut longer = encoded.to_vec();
        longer.push(0);
        assert_eq!(DirectoryFacts::decode(&longer), None);
        for (partitions, ids_max) in [(0, 1 << 20), (257, 1 << 20), (4, u64::MAX)] {
            let damaged = DirectoryFacts { partitions, ids_max, ..facts.clone() };
            assert_eq!(DirectoryFacts::decode(&damaged.encode()), None, "{partitions} partitions, {ids_max} ids");
        }
        let mut other_version = encoded.to_vec();
        other_version[0] = VERSION + 1;
        assert_eq!(DirectoryFacts::decode(&other_version), None);
    }
}
