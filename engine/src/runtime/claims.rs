//! Reads whose rule reads a user's claim (`own user`, `own user (claimed)`, a coupon's holder's
//! app): the claim is decided on the user's partition (`state_machine/transit/claims.rs`), so a
//! read checked on another partition, or on the user's while a claim there is tentative, takes
//! it from there first and is checked again with it. A decided claim never changes, so taking it
//! first is safe; a tentative one is the app's only if a partition whose command relied on it
//! recorded it (it does when the command was kept: the command is then acknowledged), so a read
//! sees exactly the claims of acknowledged commands, as on one partition.

use super::{Engine, QueryError};
use crate::authority::Read;
use crate::command::{Principal, Rejection};
use crate::partition::PartitionId;
use crate::state_machine::{ClaimForRead, KnownClaims, StateMachine};
use crate::types::Id;

impl Engine {
    /// The claims of `users` as their partitions decided them. Blocking.
    fn claims_of(&self, users: Vec<Id>) -> Result<Vec<(Id, Option<Principal>)>, QueryError> {
        let mut claims = Vec::with_capacity(users.len());
        for user in users {
            let asked = user.clone();
            let placed = self.placement.of_user(&user);
            let owner = match self.read_partition_blocking(placed, move |machine| machine.claim_for_read(&asked))? {
                ClaimForRead::Decided(owner) => owner,
                ClaimForRead::Tentative(owner, sources) => self.kept_on(&user, owner, sources)?,
            };
            claims.push((user, owner));
        }
        Ok(claims)
    }

    /// `owner`, if one of `sources` recorded it as `user`'s (a command there kept the claim).
    fn kept_on(&self, user: &Id, owner: Principal, sources: Vec<PartitionId>) -> Result<Option<Principal>, QueryError> {
        for source in sources {
            let asked = user.clone();
            if self.read_partition_blocking(source, move |machine| machine.recorded_claim(&asked))?
                == Some(owner.clone())
            {
                return Ok(Some(owner));
            }
        }
        Ok(None)
    }

    /// Runs `run` on `partition`, again with the users' claims it names (`Err`) taken from their
    /// partitions, until it names none it lacks. Blocking.
    pub(super) fn read_with_claims<R: Send + 'static>(
        &self,
        partition: PartitionId,
        run: impl Fn(&StateMachine, &KnownClaims) -> Result<R, Vec<Id>> + Clone + Send + 'static,
    ) -> Result<R, QueryError> {
        let mut claims: Vec<(Id, Option<Principal>)> = Vec::new();
        loop {
            let (once, known) = (run.clone(), claims.clone());
            let users = match self.read_partition_blocking(partition, move |machine| once(machine, &known))? {
                Ok(value) => return Ok(value),
                Err(users) => users,
            };
            let new: Vec<Id> =
                users.into_iter().filter(|user| !claims.iter().any(|(known, _)| known == user)).collect();
            if new.is_empty() {
                // A claim given is never asked for again; refuse rather than loop if it were.
                return Err(QueryError::Forbidden);
            }
            claims.extend(self.claims_of(new)?);
        }
    }

    /// Runs `query` on the partition that answers `read`, if `principal` may make it (checked
    /// there, in the same step, the users' claims its rule reads taken from their partitions).
    /// Blocking.
    pub fn read_checked<R: Send + 'static>(
        &self,
        principal: &Principal,
        read: Read,
        query: impl Fn(&StateMachine) -> R + Clone + Send + 'static,
    ) -> Result<R, QueryError> {
        let partition = self.partition_of_read(&read)?;
        let who = principal.clone();
        let answer = self.read_with_claims(partition, move |machine, claims| {
            Ok(machine.read_verdict(&who, &read, &[], claims).decided()?.map(|()| query(machine)))
        })?;
        answer.map_err(|_: Rejection| QueryError::Forbidden)
    }
}
