//! What a partition's transit has open: the messages sent and not yet answered (sent again
//! after a restart) and the money in flight, as the invariants, an account's closing and the
//! engine's open read them.

use std::collections::BTreeMap;

use super::{Open, Transit};
use crate::partition::{Credit, Move, Outgoing, Reserve, TransitMessage};
use crate::types::{Currency, Id};

impl Open {
    pub(super) fn resend(&self, settled_through: u64) -> Outgoing {
        match self {
            Open::Credit { destination, credit, .. } => Outgoing {
                destination: *destination,
                message: TransitMessage::Credit(Credit { settled_through, ..credit.clone() }),
            },
            Open::Check { destination, check, .. } => {
                Outgoing { destination: *destination, message: TransitMessage::Check(check.clone()) }
            }
            Open::Move { destination, payment } => Outgoing {
                destination: *destination,
                message: TransitMessage::Move(Move { settled_through, ..payment.clone() }),
            },
            Open::Reserve { destination, reserve, .. } => Outgoing {
                destination: *destination,
                message: TransitMessage::Reserve(Reserve { settled_through, ..reserve.clone() }),
            },
            Open::Claim { destination, step } => Outgoing { destination: *destination, message: step.message() },
            Open::Coupon { destination, step } => Outgoing { destination: *destination, message: step.message() },
        }
    }
}

impl Transit {
    /// Money in this partition's transit per currency: debited here, not yet heard of.
    pub fn in_flight(&self) -> BTreeMap<Currency, u128> {
        let mut sums = BTreeMap::new();
        for open in self.open.values() {
            if let Open::Credit { credit, .. } = &**open {
                *sums.entry(credit.currency).or_default() += u128::from(credit.amount);
            }
        }
        sums
    }

    /// Money received from minus money paid on to other partitions, per currency.
    pub fn net_inflow(&self) -> BTreeMap<Currency, i128> {
        let mut net: BTreeMap<Currency, i128> = BTreeMap::new();
        for (currency, amount) in &self.received {
            *net.entry(*currency).or_default() += i128::try_from(*amount).expect("fits");
        }
        for (currency, amount) in &self.paid_out {
            *net.entry(*currency).or_default() -= i128::try_from(*amount).expect("fits");
        }
        net
    }

    /// How many messages were sent and not yet answered (0: nothing is in flight from here).
    pub fn open_steps(&self) -> usize {
        self.open.len()
    }

    /// Every credit and check sent and not yet answered, to send again after a restart.
    pub fn open_messages(&self) -> Vec<Outgoing> {
        let settled_through = self.settled_through();
        self.open.values().map(|open| open.resend(settled_through)).collect()
    }

    /// Whether `account` has money in transit (it may not close until it is heard of), or a
    /// share in a split's escrow on another partition (it may not close until that comes back).
    pub(in crate::state_machine) fn debits_open(&self, account: &Id) -> bool {
        self.shares_out.contains_key(account)
            || self.open.values().any(|open| {
                matches!(&**open, Open::Credit { from, credit, .. }
                    if from == account && credit.amount > 0 && credit.paying.from_escrow().is_none())
            })
    }
}
