//! Integration tests of kassa against real engines and servers.

mod archive;
mod claims;
mod cluster;
mod cluster_nodes;
mod cluster_snapshots;
mod durability;
mod engine;
mod events;
mod followed_partitions;
mod late_retries;
mod metadata;
mod partition_bills;
mod partition_holds;
mod partition_pos;
mod partition_splits;
mod partitions;
mod pos_partition_holds;
mod simulation;
mod storage_faults;
mod torture;
