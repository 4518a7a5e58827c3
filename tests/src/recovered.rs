//! Checks a recovered engine against the acknowledgements a crashed run printed.

use std::collections::HashMap;

use kassa_engine::command::PostingCause;
use kassa_engine::partition::Placement;
use kassa_engine::state_machine::{BillState, HoldState};
use kassa_engine::{Currency, Engine, Id, Principal};

use crate::workload::{SHOP, id};
use crate::{ACCOUNTS, Ack, account, result_of};

/// Every acknowledged command is present with its result, no rejected one was applied, money is
/// conserved (the engine's own invariants: conservation, overdraft limits, held = active holds),
/// and every account's history adds up to its balance with no transfer in it twice.
pub fn verify_recovered(engine: &Engine, acks: &[Ack]) -> Result<(), String> {
    let placement = engine.placement().clone();
    if placement.count() > 1 {
        wait_for_transit_to_drain(engine)?;
    }
    let mut balances: Vec<(Id, i64)> = Vec::new();
    // Paid shares of open splits, in escrow.
    let mut escrowed: i64 = 0;
    // Each partition checks its own invariants and the acknowledgements it applied: a
    // transfer where its payer lives, a split where its requester lives, a merchant's
    // registration everywhere, everything else on the home partition.
    for partition in 0..placement.count() {
        let placement = placement.clone();
        let here = |ack: &&Ack| ack_partition(&placement, ack) == partition || matches!(ack, Ack::Registered { .. });
        let acks: Vec<Ack> = acks.iter().filter(here).cloned().collect();
        let found = engine
            .read_partition_blocking(partition, move |machine| {
                machine.check_invariants();
                if machine.transit().reservations() != (0, 0) {
                    let left = machine.transit().reservations();
                    return Err(format!("partition {partition}: reservations left after the drain: {left:?}"));
                }
                verify_acks(machine, &acks).map_err(|error| format!("partition {partition}: {error}"))?;
                let accounts = (0..ACCOUNTS).map(account).chain(std::iter::once(id(SHOP)));
                let posted = accounts.filter_map(|account| Some((account.clone(), machine.account(&account)?.posted)));
                let escrowed = machine.escrowed().get(&Currency::EUR).copied().unwrap_or(0);
                Ok::<_, String>((posted.collect::<Vec<_>>(), escrowed))
            })
            .map_err(|error| format!("read failed: {error}"))??;
        balances.extend(found.0);
        escrowed += i64::try_from(found.1).expect("fits");
    }
    verify_holds(engine, acks)?;
    verify_reference(engine)?;
    if placement.count() > 1 {
        let total: i64 = balances.iter().map(|(_, posted)| posted).sum::<i64>() + escrowed;
        let deposited = i64::try_from(ACCOUNTS as u64 * crate::OPENING_BALANCE).expect("fits");
        if total != deposited {
            return Err(format!(
                "the accounts and split escrows hold {total} after the transit drained, {deposited} were deposited"
            ));
        }
    }
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

/// Every acknowledged hold capture is recovered captured (from memory or storage, through the
/// directory on several partitions), and no refused one captured anything.
fn verify_holds(engine: &Engine, acks: &[Ack]) -> Result<(), String> {
    for ack in acks {
        let Ack::HoldCaptured { id: hold, amount, result, .. } = ack else { continue };
        let found = engine.hold(&Principal::Admin, &id(hold)).map_err(|error| format!("hold {hold}: {error}"))?;
        let state = found.map(|found| found.state);
        let captured = state == Some(HoldState::Captured(*amount));
        if (result == "A") != captured {
            return Err(format!("hold {hold} acknowledged {result}, recovered {state:?}"));
        }
    }
    Ok(())
}

/// Every partition knows the merchants, terminals and operators the home partition registered
/// (the reference stream, sent again after a restart to a partition that missed some).
fn verify_reference(engine: &Engine) -> Result<(), String> {
    let read = |partition| {
        engine
            .read_partition_blocking(partition, |machine| machine.reference_digest())
            .map_err(|error| format!("read failed: {error}"))
    };
    let home = read(kassa_engine::partition::HOME_PARTITION)?;
    for partition in 1..engine.placement().count() {
        if read(partition)? != home {
            return Err(format!("partition {partition} knows other merchants, terminals or operators than home"));
        }
    }
    Ok(())
}

/// The partition that applied `ack`'s command.
fn ack_partition(placement: &Placement, ack: &Ack) -> u16 {
    match ack {
        Ack::Transfer { from, .. } | Ack::HoldCaptured { from, .. } => placement.of_account(&id(from)),
        Ack::LinkedLeg { batch, .. } => placement.of_account(&id(batch)),
        Ack::SharePaid { requester, .. } | Ack::SplitRefunded { requester, .. } => placement.of_user(&id(requester)),
        Ack::Settlement { user, .. } | Ack::BillPaid { user, .. } => placement.of_user(&id(user)),
        _ => kassa_engine::partition::HOME_PARTITION,
    }
}

/// Waits for the credits still on their way after a restart to arrive and be answered.
fn wait_for_transit_to_drain(engine: &Engine) -> Result<(), String> {
    let started = std::time::Instant::now();
    let in_flight = || -> Result<u128, String> {
        let mut sum = 0;
        for partition in 0..engine.placement().count() {
            sum += engine
                .read_partition_blocking(partition, |machine| machine.transit().in_flight().values().sum::<u128>())
                .map_err(|error| format!("read failed: {error}"))?;
        }
        Ok(sum)
    };
    // Money in flight, or a message not yet answered (a move asked for, a check).
    let open = || -> Result<bool, String> {
        let mut open = false;
        for partition in 0..engine.placement().count() {
            open |= engine
                .read_partition_blocking(partition, |machine| !machine.transit().open_messages().is_empty())
                .map_err(|error| format!("read failed: {error}"))?;
        }
        Ok(open)
    };
    while in_flight()? > 0 || open()? {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            return Err("money between partitions did not arrive within 10 s of the restart".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// Checks every acknowledgement against the recovered machine.
pub fn verify_acks(machine: &kassa_engine::StateMachine, acks: &[Ack]) -> Result<(), String> {
    for ack in acks {
        match ack {
            Ack::Transfer { id: transfer, from, to, amount, result }
            | Ack::LinkedLeg { id: transfer, from, to, amount, result, .. } => {
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
            Ack::Settlement { id: settlement, result, .. } => {
                let found = machine.settlement(&id(settlement)).map(result_of);
                if found.as_deref() != Some(result.as_str()) {
                    return Err(format!("settlement {settlement} acknowledged {result}, recovered {found:?}"));
                }
            }
            Ack::BillPaid { id: bill, result, .. } => {
                let state = machine.bill(&id(bill)).map(|bill| bill.state.clone());
                let paid = matches!(state, Some(BillState::Paid { .. }));
                if (result == "A") != paid {
                    return Err(format!("bill {bill} acknowledged {result}, recovered {state:?}"));
                }
            }
            // Checked by `verify_holds`, which also reads what left memory.
            Ack::HoldCaptured { .. } => {}
            Ack::SharePaid { id: split, member, result, .. } => {
                let paid = machine.split(&id(split)).map(|split| split.paid[*member]);
                if result == "A" && paid != Some(true) {
                    return Err(format!("share {member} of {split} acknowledged paid, recovered {paid:?}"));
                }
            }
            Ack::SplitRefunded { id: split, result, .. } => {
                let state = machine.split(&id(split)).map(|split| split.state);
                if (result == "A") != (state == Some(kassa_engine::state_machine::SplitState::Refunded)) {
                    return Err(format!("refund of {split} acknowledged {result}, recovered {state:?}"));
                }
            }
            // Checked on every partition: each learns it by the reference stream.
            Ack::Registered { merchant, account, result } => {
                let found = machine.merchant(&id(merchant)).map(|known| known.account.to_string());
                if (result == "A") != (found.as_deref() == Some(account.as_str())) {
                    return Err(format!("merchant {merchant} acknowledged {result}, recovered with {found:?}"));
                }
            }
        }
    }
    Ok(())
}
