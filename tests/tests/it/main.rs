//! Integration tests of kassa against real engines and servers.

mod durability;
mod engine;
mod events;
mod metadata;
mod partitions;
mod simulation;
mod storage_faults;
mod torture;
