//! Who owns a partition: a lease in a JetStream key-value bucket.
//!
//! The bucket's entries expire `ttl` after they were last written (its streams' `max_age`).
//! A node takes partition `n`'s lease by creating key `p<n>` (refused while another holds it)
//! and keeps it by updating the key at the revision it last wrote (refused once the lease
//! lapsed and another took it). The revision that created the key is the owner's **epoch**:
//! revisions only grow, so each new owner's epoch is above every earlier one's, and its log's
//! takeover entry fences out the old owner's appends (`crate::log`).

use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::kv::{Config, CreateErrorKind, Store, UpdateErrorKind};
use async_nats::jetstream::stream::StorageType;
use bytes::Bytes;

/// Why a lease was not taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds it.
    #[error("partition {partition} is held by {holder}")]
    Held {
        /// The partition.
        partition: u16,
        /// The node holding it (as far as the bucket said).
        holder: String,
    },
    /// It lapsed and another node took it (or it was released): stop answering for it.
    #[error("the lease of partition {0} was lost")]
    Lost(u16),
    /// NATS did not answer as expected.
    #[error("JetStream: {0}")]
    Nats(String),
}

fn nats(error: impl std::fmt::Display) -> LeaseError {
    LeaseError::Nats(error.to_string())
}

/// A partition's lease, held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The partition.
    pub partition: u16,
    /// The node holding it.
    pub node: String,
    /// The revision that took it: the owner's epoch.
    pub epoch: u64,
    revision: u64,
}

/// The leases of a cluster's partitions.
#[derive(Debug, Clone)]
pub struct Leases {
    store: Store,
    ttl: Duration,
}

fn key(partition: u16) -> String {
    format!("p{partition}")
}

impl Leases {
    /// Opens (or creates) bucket `bucket` whose leases last `ttl` unless renewed, kept in
    /// `replicas` copies.
    pub async fn open(js: &Context, bucket: &str, ttl: Duration, replicas: usize) -> Result<Leases, LeaseError> {
        let store = match js.get_key_value(bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(Config {
                    bucket: bucket.to_string(),
                    history: 1,
                    max_age: ttl,
                    storage: StorageType::File,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(nats)?,
        };
        Ok(Leases { store, ttl })
    }

    /// How long a lease lasts unless renewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes partition `partition`'s lease for `node`, if nobody holds it.
    pub async fn acquire(&self, partition: u16, node: &str) -> Result<Lease, LeaseError> {
        match self.store.create(key(partition), Bytes::from(node.to_string())).await {
            Ok(revision) => Ok(Lease { partition, node: node.to_string(), epoch: revision, revision }),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => {
                let holder = self.holder(partition).await?.unwrap_or_default();
                Err(LeaseError::Held { partition, holder })
            }
            Err(error) => Err(nats(error)),
        }
    }

    /// Renews `lease` for another `ttl`, if it is still this node's.
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let value = Bytes::from(lease.node.clone());
        match self.store.update(key(lease.partition), value, lease.revision).await {
            Ok(revision) => {
                lease.revision = revision;
                Ok(())
            }
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => self.adopt(lease).await,
            Err(error) => Err(nats(error)),
        }
    }

    /// After a refused renewal: an earlier renewal whose answer was lost (NATS electing a
    /// leader) may have moved the revision on. The lease is still this node's if the key holds
    /// this node's name since the epoch that took it (only this node writes its name); anything
    /// else means it lapsed and was taken, or deleted.
    async fn adopt(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let entry = self.store.entry(key(lease.partition)).await.map_err(nats)?;
        match entry {
            Some(entry)
                if entry.operation == async_nats::jetstream::kv::Operation::Put
                    && entry.value.as_ref() == lease.node.as_bytes()
                    && entry.revision > lease.revision =>
            {
                lease.revision = entry.revision;
                Ok(())
            }
            _ => Err(LeaseError::Lost(lease.partition)),
        }
    }

    /// Gives `lease` up at once (a clean shutdown), if it is still this node's.
    pub async fn release(&self, lease: Lease) -> Result<(), LeaseError> {
        self.store
            .delete_expect_revision(key(lease.partition), Some(lease.revision))
            .await
            .map_err(|_| LeaseError::Lost(lease.partition))
    }

    /// The node holding partition `partition`'s lease, if any.
    pub async fn holder(&self, partition: u16) -> Result<Option<String>, LeaseError> {
        let value = self.store.get(key(partition)).await.map_err(nats)?;
        Ok(value.map(|value| String::from_utf8_lossy(&value).into_owned()))
    }
}
