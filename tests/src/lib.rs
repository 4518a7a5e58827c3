//! kassa-tests: the workload shared by the crash child and the durability test.
//!
//! The crash child (`kassa-crash-child DATA_DIR CYCLE SEED`) opens a durable engine, drives
//! concurrent transfers, POS settlements, bill charges and split shares, and prints one line per
//! *acknowledged* command. The durability test kills it with SIGKILL at a random moment, reopens
//! the engine and checks every printed line against the recovered state.

use kassa_engine::Id;

pub mod channels;
pub mod claims;
pub mod faults;
pub mod model;
pub mod recovered;
pub mod simulation;
pub mod workload;

/// Accounts of the workload (`acc0` ..).
pub const ACCOUNTS: usize = 100;
/// Opening balance of each account.
pub const OPENING_BALANCE: u64 = 1_000_000;

/// The workload's account ids.
pub fn account(index: usize) -> Id {
    Id::new(&format!("acc{index}")).expect("valid id")
}

/// One acknowledged command, as printed by the child and parsed by the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// `T id from to amount result`: a transfer.
    Transfer {
        /// Transfer id.
        id: String,
        /// Debited account.
        from: String,
        /// Credited account.
        to: String,
        /// Amount.
        amount: u64,
        /// `A` or `R:<code>`.
        result: String,
    },
    /// `P id user result`: a POS settlement.
    Settlement {
        /// Settlement id.
        id: String,
        /// Its user (the settlement lives on the user's partition).
        user: String,
        /// `A` or `R:<code>`.
        result: String,
    },
    /// `B id user result`: a bill confirmation.
    BillPaid {
        /// Bill id.
        id: String,
        /// Its user (the bill lives on the user's partition).
        user: String,
        /// `A` or `R:<code>`.
        result: String,
    },
    /// `L id batch from to amount result`: a leg of a linked batch whose first payer is
    /// `batch` (its id is remembered on that account's partition, whoever pays the leg).
    LinkedLeg {
        /// Transfer id.
        id: String,
        /// The batch's first payer.
        batch: String,
        /// Debited account.
        from: String,
        /// Credited account.
        to: String,
        /// Amount.
        amount: u64,
        /// `A` or `R:<code>` (the batch's).
        result: String,
    },
    /// `H id from to amount result`: a hold placed and captured whole (`result`: the capture's,
    /// or the placement's refusal).
    HoldCaptured {
        /// Hold id.
        id: String,
        /// Payer.
        from: String,
        /// Payee.
        to: String,
        /// Held and captured amount.
        amount: u64,
        /// `A` or `R:<code>`.
        result: String,
    },
    /// `M id account result`: a merchant's registration (on several partitions).
    Registered {
        /// Merchant id.
        merchant: String,
        /// Its account.
        account: String,
        /// `A` or `R:<code>`.
        result: String,
    },
    /// `S id requester member result`: a split share payment.
    SharePaid {
        /// Split id.
        id: String,
        /// The split's requester (the split lives on the requester's partition).
        requester: String,
        /// Member index.
        member: usize,
        /// `A` or `R:<code>`.
        result: String,
    },
    /// `F id requester result`: a completed split's refund.
    SplitRefunded {
        /// Split id.
        id: String,
        /// The split's requester.
        requester: String,
        /// `A` or `R:<code>`.
        result: String,
    },
}

impl Ack {
    /// The line the child prints.
    pub fn line(&self) -> String {
        match self {
            Ack::Transfer { id, from, to, amount, result } => format!("T {id} {from} {to} {amount} {result}"),
            Ack::LinkedLeg { id, batch, from, to, amount, result } => {
                format!("L {id} {batch} {from} {to} {amount} {result}")
            }
            Ack::Settlement { id, user, result } => format!("P {id} {user} {result}"),
            Ack::BillPaid { id, user, result } => format!("B {id} {user} {result}"),
            Ack::SharePaid { id, requester, member, result } => format!("S {id} {requester} {member} {result}"),
            Ack::SplitRefunded { id, requester, result } => format!("F {id} {requester} {result}"),
            Ack::Registered { merchant, account, result } => format!("M {merchant} {account} {result}"),
            Ack::HoldCaptured { id, from, to, amount, result } => format!("H {id} {from} {to} {amount} {result}"),
        }
    }

    /// Parses a line; `None` for anything else (a torn last line of a killed child).
    pub fn parse(line: &str) -> Option<Ack> {
        let fields: Vec<&str> = line.split(' ').collect();
        let text = |index: usize| fields.get(index).map(|field| field.to_string());
        match *fields.first()? {
            "T" if fields.len() == 6 => Some(Ack::Transfer {
                id: text(1)?,
                from: text(2)?,
                to: text(3)?,
                amount: fields[4].parse().ok()?,
                result: text(5)?,
            }),
            "L" if fields.len() == 7 => Some(Ack::LinkedLeg {
                id: text(1)?,
                batch: text(2)?,
                from: text(3)?,
                to: text(4)?,
                amount: fields[5].parse().ok()?,
                result: text(6)?,
            }),
            "H" if fields.len() == 6 => Some(Ack::HoldCaptured {
                id: text(1)?,
                from: text(2)?,
                to: text(3)?,
                amount: fields[4].parse().ok()?,
                result: text(5)?,
            }),
            "P" if fields.len() == 4 => Some(Ack::Settlement { id: text(1)?, user: text(2)?, result: text(3)? }),
            "B" if fields.len() == 4 => Some(Ack::BillPaid { id: text(1)?, user: text(2)?, result: text(3)? }),
            "M" if fields.len() == 4 => {
                Some(Ack::Registered { merchant: text(1)?, account: text(2)?, result: text(3)? })
            }
            "S" if fields.len() == 5 => Some(Ack::SharePaid {
                id: text(1)?,
                requester: text(2)?,
                member: fields[3].parse().ok()?,
                result: text(4)?,
            }),
            "F" if fields.len() == 4 => {
                Some(Ack::SplitRefunded { id: text(1)?, requester: text(2)?, result: text(3)? })
            }
            _ => None,
        }
    }
}

/// A run on several partitions crossed them in every flow the workload has: transfers, holds
/// captured, POS sales and pre-authorizations, bills, split shares, linked batches and split refunds acknowledged
/// applied, each at least a few times.
pub fn assert_every_flow_crossed(acks: &[Ack]) {
    let applied = |wanted: fn(&Ack) -> bool| acks.iter().filter(|ack| wanted(ack)).count();
    let captured = applied(|ack| matches!(ack, Ack::HoldCaptured { result, .. } if result == "A"));
    assert!(captured > 10, "holds are captured on every partition's accounts");
    let sold = applied(|ack| matches!(ack, Ack::Settlement { result, .. } if result == "A"));
    assert!(sold > 10, "POS sales debit payers on every partition");
    let pre_authorized =
        applied(|ack| matches!(ack, Ack::HoldCaptured { id, result, .. } if id.starts_with("p-") && result == "A"));
    assert!(pre_authorized > 2, "POS pre-authorizations hold and capture payers' funds on every partition");
    let paid = applied(|ack| matches!(ack, Ack::BillPaid { result, .. } if result == "A"));
    assert!(paid > 5, "bills charge accounts on every partition");
    let shares = applied(|ack| matches!(ack, Ack::SharePaid { result, .. } if result == "A"));
    assert!(shares > 5, "split shares are paid from every partition");
    let linked = applied(|ack| matches!(ack, Ack::LinkedLeg { result, .. } if result == "A"));
    assert!(linked > 5, "linked batches pay accounts on every partition");
    let paid_from_elsewhere =
        applied(|ack| matches!(ack, Ack::LinkedLeg { batch, from, result, .. } if batch != from && result == "A"));
    assert!(paid_from_elsewhere > 1, "linked batches are paid from accounts on other partitions");
    let independent =
        applied(|ack| matches!(ack, Ack::Transfer { id, result, .. } if id.starts_with("ib-") && result == "A"));
    assert!(independent > 5, "independent batches' legs are paid from accounts on every partition");
    let refunded = applied(|ack| matches!(ack, Ack::SplitRefunded { result, .. } if result == "A"));
    assert!(refunded > 2, "completed splits are refunded across partitions");
    let registered = applied(|ack| matches!(ack, Ack::Registered { result, .. } if result == "A"));
    assert!(registered > 2, "merchants register with accounts wherever they live");
    let refused = applied(|ack| matches!(ack, Ack::Registered { result, .. } if result.starts_with("R:")));
    assert_eq!(refused, 0, "no registration refused (every account exists)");
}

/// `A` for an applied outcome, `R:<code>` for a rejection.
pub fn result_of(outcome: &kassa_engine::Outcome) -> String {
    match outcome.rejection() {
        None => "A".into(),
        Some(rejection) => format!("R:{}", rejection.code()),
    }
}
