//! The read rules' facts of objects out of memory: a read of an archived object is checked by
//! the same rules as of one in memory, with the object's own facts taken from what storage kept.

use super::{Archived, ArchivedKind};
use crate::authority::Facts;
use crate::command::{ObjectKind, Principal};
use crate::state_machine::{Bill, Coupon, Hold, Split, StateMachine};
use crate::types::Id;

impl StateMachine {
    /// Whether `principal` may make `read` of an object out of memory, by the same rules as of
    /// one in memory: `archived` answers the facts of the objects it holds (the object, and the
    /// settlement of a POS hold), the machine every other.
    pub fn check_read_archived(
        &self,
        principal: &Principal,
        read: &crate::authority::Read,
        archived: &[Archived],
    ) -> Result<(), crate::command::Rejection> {
        crate::authority::check_read(&WithArchived { machine: self, archived }, principal, read)
    }
}

/// The machine's facts, and those of some archived objects.
struct WithArchived<'a> {
    machine: &'a StateMachine,
    archived: &'a [Archived],
}

impl WithArchived<'_> {
    fn find(&self, kind: ArchivedKind, id: &Id) -> Option<&Archived> {
        self.archived.iter().find(|object| object.kind() == kind && object.id() == id)
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
