//! The read rules' facts: a read of an archived object is checked by the same rules as of one in
//! memory, with the object's own facts taken from what storage kept; and a rule that reads a
//! user's claim reads it as the user's partition decided it (`transit/claims.rs`), never a
//! tentative one: a claim not known for sure here is named in the verdict, the runtime takes it
//! from the user's partition ([`StateMachine::claim_for_read`]) and checks again with it.

use std::cell::RefCell;

use super::{Archived, ArchivedKind};
use crate::authority::Facts;
use crate::command::{ObjectKind, Principal, Rejection};
use crate::partition::PartitionId;
use crate::state_machine::{Bill, Coupon, Hold, Split, StateMachine};
use crate::types::Id;

/// Users' claims a read was given, as the users' partitions decided them (`None`: unclaimed).
pub type KnownClaims = [(Id, Option<Principal>)];

/// A read's verdict on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadVerdict {
    /// The principal may make the read.
    Allowed,
    /// It may not.
    Refused(Rejection),
    /// The rule reads the claims of these users, which this partition does not know for sure:
    /// take them from the users' partitions and check again.
    ClaimsElsewhere(Vec<Id>),
}

impl ReadVerdict {
    /// `Err(users)`: the claims to take from the users' partitions first; else the answer.
    pub fn decided(self) -> Result<Result<(), Rejection>, Vec<Id>> {
        match self {
            ReadVerdict::Allowed => Ok(Ok(())),
            ReadVerdict::Refused(rejection) => Ok(Err(rejection)),
            ReadVerdict::ClaimsElsewhere(users) => Err(users),
        }
    }
}

/// A user's claim as its own partition answers a read ([`StateMachine::claim_for_read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimForRead {
    /// Decided: the app that owns the user, or nobody.
    Decided(Option<Principal>),
    /// Tentatively this app's, for commands of these partitions still being decided: the claim
    /// is the app's if one of them keeps it (its partition then records it).
    Tentative(Principal, Vec<PartitionId>),
}

impl StateMachine {
    /// Whether `principal` may make `read` here, by the same rules for an object out of memory
    /// as in memory: `archived` answers for the objects it holds (the object, and the settlement
    /// of a POS hold), `claims` for users' claims taken from their partitions; a verdict that
    /// needs a claim this partition does not know for sure names the users.
    pub fn read_verdict(
        &self,
        principal: &Principal,
        read: &crate::authority::Read,
        archived: &[Archived],
        claims: &KnownClaims,
    ) -> ReadVerdict {
        let facts = WithArchived::new(self, archived, claims);
        let checked = crate::authority::check_read(&facts, principal, read);
        let unknown = facts.unknown.into_inner();
        match checked {
            _ if !unknown.is_empty() => ReadVerdict::ClaimsElsewhere(unknown),
            Ok(()) => ReadVerdict::Allowed,
            Err(rejection) => ReadVerdict::Refused(rejection),
        }
    }

    /// The claim of `user`, a user of this partition, for a read: decided (recorded, or nobody's),
    /// or tentative and the partitions whose commands rely on it.
    pub fn claim_for_read(&self, user: &Id) -> ClaimForRead {
        if let Some(owner) = self.state.owners.get(&(ObjectKind::User, user.clone())) {
            return ClaimForRead::Decided(Some(owner.clone()));
        }
        match self.state.transit.tentative_claim(user) {
            Some((owner, sources)) => ClaimForRead::Tentative(owner.clone(), sources),
            None => ClaimForRead::Decided(None),
        }
    }

    /// The app recorded here as `user`'s owner: a claim decided for good (a partition whose
    /// command kept a tentative claim records it when the command is decided).
    pub fn recorded_claim(&self, user: &Id) -> Option<Principal> {
        self.state.owners.get(&(ObjectKind::User, user.clone())).cloned()
    }
}

/// The machine's facts, those of some archived objects, and users' claims taken from their
/// partitions.
struct WithArchived<'a> {
    machine: &'a StateMachine,
    archived: &'a [Archived],
    claims: &'a KnownClaims,
    /// The users whose claims the rule read and this partition does not know for sure.
    unknown: RefCell<Vec<Id>>,
}

impl<'a> WithArchived<'a> {
    fn new(machine: &'a StateMachine, archived: &'a [Archived], claims: &'a KnownClaims) -> WithArchived<'a> {
        WithArchived { machine, archived, claims, unknown: RefCell::new(Vec::new()) }
    }

    fn find(&self, kind: ArchivedKind, id: &Id) -> Option<&Archived> {
        self.archived.iter().find(|object| object.kind() == kind && object.id() == id)
    }

    /// `user`'s claim: given, recorded here, or decided unclaimed here (a user of this partition
    /// with no tentative claim); else noted as unknown.
    fn user_owner(&self, user: &Id) -> Option<&Principal> {
        if let Some((_, owner)) = self.claims.iter().find(|(claimed, _)| claimed == user) {
            return owner.as_ref();
        }
        let machine = self.machine;
        if let Some(owner) = machine.state.owners.get(&(ObjectKind::User, user.clone())) {
            return Some(owner);
        }
        let decided_here = machine.config.placement.of_user(user) == machine.config.partition
            && machine.state.transit.tentative_claim(user).is_none();
        if !decided_here {
            let mut unknown = self.unknown.borrow_mut();
            if !unknown.contains(user) {
                unknown.push(user.clone());
            }
        }
        None
    }
}

impl Facts for WithArchived<'_> {
    fn owner(&self, kind: ObjectKind, id: &Id) -> Option<&Principal> {
        let stored = match kind {
            ObjectKind::Authorization => self.find(ArchivedKind::Authorization, id),
            ObjectKind::Hold => self.find(ArchivedKind::Hold, id),
            ObjectKind::Bill => self.find(ArchivedKind::Bill, id),
            ObjectKind::Split => self.find(ArchivedKind::Split, id),
            _ => None,
        };
        match stored {
            Some(Archived::Authorization(archived)) => archived.owner.as_ref(),
            Some(Archived::Hold(archived)) => archived.owner.as_ref(),
            Some(Archived::Bill(archived)) => archived.owner.as_ref(),
            Some(Archived::Split(archived)) => archived.owner.as_ref(),
            _ if kind == ObjectKind::User => self.user_owner(id),
            _ => Facts::owner(self.machine, kind, id),
        }
    }

    fn merchant_account(&self, merchant: &Id) -> Option<&Id> {
        Facts::merchant_account(self.machine, merchant)
    }

    fn terminal_merchant(&self, terminal: &Id) -> Option<&Id> {
        Facts::terminal_merchant(self.machine, terminal)
    }

    fn settlement_terminal(&self, settlement: &Id) -> Option<&Id> {
        match self.find(ArchivedKind::Settlement, settlement) {
            Some(Archived::Settlement(archived)) => Some(&archived.record.terminal),
            _ => Facts::settlement_terminal(self.machine, settlement),
        }
    }

    fn pos_hold_terminal(&self, id: &Id) -> Option<&Id> {
        match self.find(ArchivedKind::Settlement, id) {
            Some(Archived::Settlement(archived)) => {
                archived.record.effect.as_ref().filter(|effect| effect.held).map(|_| &archived.record.terminal)
            }
            _ => Facts::pos_hold_terminal(self.machine, id),
        }
    }

    fn hold(&self, id: &Id) -> Option<&Hold> {
        match self.find(ArchivedKind::Hold, id) {
            Some(Archived::Hold(archived)) => Some(&archived.hold),
            _ => Facts::hold(self.machine, id),
        }
    }

    fn bill(&self, id: &Id) -> Option<&Bill> {
        match self.find(ArchivedKind::Bill, id) {
            Some(Archived::Bill(archived)) => Some(&archived.bill),
            _ => Facts::bill(self.machine, id),
        }
    }

    fn split(&self, id: &Id) -> Option<&Split> {
        match self.find(ArchivedKind::Split, id) {
            Some(Archived::Split(archived)) => Some(&archived.split),
            _ => Facts::split(self.machine, id),
        }
    }

    fn coupon(&self, id: &Id) -> Option<&Coupon> {
        match self.find(ArchivedKind::Coupon, id) {
            Some(Archived::Coupon(archived)) => Some(&archived.coupon),
            _ => Facts::coupon(self.machine, id),
        }
    }
}
