//! The messages of users' claims between partitions (`state_machine/transit/claims.rs`).

use serde::{Deserialize, Serialize};

use super::PartitionId;
use crate::command::Principal;
use crate::types::Id;

/// A user's claim asked of the user's partition ([`TransitMessage::Claim`](super::TransitMessage::Claim)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The partition where the command acting for the user waits.
    pub source: PartitionId,
    /// Numbered by the source with its credits.
    pub number: u64,
    /// The user.
    pub user: Id,
    /// The app the command acts for, which claims the user if nobody has.
    pub app: Principal,
}

/// How the command that claim `claim` of `source` was made for ended ([`TransitMessage::ClaimEnded`](super::TransitMessage::ClaimEnded)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimEnd {
    /// The claim's source.
    pub source: PartitionId,
    /// This message's own number at the source (its answer closes it there).
    pub number: u64,
    /// The claim's number.
    pub claim: u64,
    /// The user.
    pub user: Id,
    /// Whether the command applied (the claim is kept) or was refused (given up).
    pub kept: bool,
}

/// A claim recorded for good on another partition than the home one
/// ([`TransitMessage::ClaimNoted`](super::TransitMessage::ClaimNoted)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimNoted {
    /// The partition that recorded it.
    pub source: PartitionId,
    /// This message's own number at the source (its answer closes it there).
    pub number: u64,
    /// The user.
    pub user: Id,
    /// The app the user belongs to.
    pub owner: Principal,
}
