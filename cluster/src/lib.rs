//! Cluster mode on NATS JetStream (issue 16): the parts its protocol is built from.
//!
//! - [`log`]: a partition's log as one JetStream stream that exactly one owner appends to.
//!   Every append is fenced with the stream's expected last sequence, so an owner that lost the
//!   stream to another fails instead of writing after it. Every entry carries its owner's epoch
//!   and the hash of its predecessor, and reading refuses a broken chain.
//! - [`lease`]: who owns a partition. It is a key in a JetStream key-value bucket whose entries
//!   expire after the lease's time to live. It is taken by create and renewed by
//!   compare-and-set on the revision. The revision that took it is the owner's epoch.
//! - [`chain`]: the hash chain, pure.
//!
//! - [`replica`]: a node that owns every partition copies its log to the streams before any
//!   acknowledgement (`kassa serve --cluster`); standbys, takeover by another node, request
//!   forwarding and `scripts/cluster.sh` are the next steps (docs/cluster.md).

pub mod chain;
pub mod directory;
pub mod lease;
pub mod log;
pub mod merge;
pub mod node;
pub mod replica;
pub mod snapshots;
pub mod tail;
pub mod testing;

pub use async_nats;
pub use chain::{EntryKind, Link};
pub use directory::Addresses;
pub use lease::{Lease, LeaseError, Leases};
pub use log::{Entry, LogError, LogPosition, PartitionLog};
pub use node::{StandbyView, run};
pub use replica::{ClusterOptions, JoinError, StreamReplica};
