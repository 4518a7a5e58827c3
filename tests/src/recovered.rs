//! Checks a recovered engine against the acknowledgements a crashed run printed.

use std::collections::HashMap;

use kassa_engine::command::PostingCause;
use kassa_engine::state_machine::BillState;
use kassa_engine::{Currency, Engine, Id};

use crate::workload::{SHOP, id};
use crate::{ACCOUNTS, Ack, account, result_of};

/// Every acknowledged command is present with its result, no rejected one was applied, money is
/// conserved (the engine's own invariants: conservation, overdraft limits, held = active holds),
/// and every account's history adds up to its balance with no transfer in it twice.
pub fn verify_recovered(engine: &Engine, acks: &[Ack]) -> Result<(), String> {
    let acks = acks.to_vec();
    let balances = engine
        .read_blocking(move |machine| {
            machine.check_invariants();
            verify_acks(machine, &acks)?;
            let balances: Vec<(Id, i64)> = (0..ACCOUNTS)
                .map(account)
                .chain([id(SHOP)])
                .map(|account| (account.clone(), machine.account(&account).map_or(0, |state| state.posted)))
                .collect();
            Ok::<_, String>(balances)
        })
        .map_err(|error| format!("read failed: {error}"))??;
    for (account, posted) in balances {
        let history = engine.history(&account, usize::MAX).map_err(|error| format!("history of {account}: {error}"))?;
        let sum: i64 = history.iter().map(|line| line.posting.posted_delta).sum();
        if sum != posted {
            return Err(format!("history of {account} adds up to {sum}, its balance is {posted}"));
        }
        let mut transfers: HashMap<&Id, u32> = HashMap::new();
        for line in &history {
            if let PostingCause::Transfer(transfer) = &line.posting.cause {
                *transfers.entry(transfer).or_default() += 1;
            }
        }
        if let Some((transfer, _)) = transfers.iter().find(|(_, count)| **count > 1) {
            return Err(format!("transfer {transfer} applied twice on {account}"));
        }
    }
    Ok(())
}

/// Checks every acknowledgement against the recovered machine.
pub fn verify_acks(machine: &kassa_engine::StateMachine, acks: &[Ack]) -> Result<(), String> {
    for ack in acks {
        match ack {
            Ack::Transfer { id: transfer, from, to, amount, result } => {
                let body = kassa_engine::command::Transfer {
                    id: id(transfer),
                    from: id(from),
                    to: id(to),
                    amount: *amount,
                    currency: Currency::EUR,
                };
                let found = machine.transfer_applied(&body);
                if result == "A" {
                    if found != Some(true) {
                        return Err(format!("acknowledged transfer {transfer} lost: {found:?}"));
                    }
                } else if found.is_some() {
                    return Err(format!("rejected transfer {transfer} was applied"));
                }
            }
            Ack::Settlement { id: settlement, result } => {
                let found = machine.settlement(&id(settlement)).map(result_of);
                if found.as_deref() != Some(result.as_str()) {
                    return Err(format!("settlement {settlement} acknowledged {result}, recovered {found:?}"));
                }
            }
            Ack::BillPaid { id: bill, result } => {
                let state = machine.bill(&id(bill)).map(|bill| bill.state.clone());
                let paid = matches!(state, Some(BillState::Paid { .. }));
                if (result == "A") != paid {
                    return Err(format!("bill {bill} acknowledged {result}, recovered {state:?}"));
                }
            }
            Ack::SharePaid { id: split, member, result } => {
                let paid = machine.split(&id(split)).map(|split| split.paid[*member]);
                if result == "A" && paid != Some(true) {
                    return Err(format!("share {member} of {split} acknowledged paid, recovered {paid:?}"));
                }
            }
        }
    }
    Ok(())
}
