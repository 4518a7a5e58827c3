//! Running the simulation on several partitions.
//!
//! Each partition is serializable on its own, and a transfer between partitions is atomic but
//! not serializable with everything else (ARCHITECTURE.md): its credit reaches the payee's
//! partition at some point after the commands submitted with it. The model applies a batch in
//! order, so a batch is cut into waves in which no command touches the accounts or the id of a
//! transfer between partitions submitted in the same wave; within a wave every order the engine
//! may choose gives the model's outcomes. Every wave is answered before the next is submitted,
//! and by then its transits have drained.
//!
//! A hold whose payee lives on another partition than its payer is placed and captured in
//! steps between the two partitions, as a transfer between partitions is: such a placement or
//! capture touches the payer, the payee and the hold's id as a crossing transfer does.
//!
//! A placement routes by the engine's directory when its id is known (`runtime/directory.rs`),
//! so a wave also ends before a placement (or a POS settlement placing a hold), or a split's
//! request, whose id an earlier one of the wave named: the
//! engine routes a whole wave before applying it, and a client racing itself on one id is the
//! race that directory documents.
//!
//! A command of the home partition whose account may live elsewhere (an authorization or a
//! bill's opening naming an account placed elsewhere, a sale, a reversal or refund of a sale
//! whose payer lives elsewhere, a bill's charge or refund whose account lives elsewhere) goes
//! through the home partition and the account's in steps, its object in flight in between: it
//! is alone in its wave; so is an app's command for a user whose claim lives elsewhere and is
//! not known on the home partition yet (asked there first).
//!
//! The state is read from every partition and merged: accounts (and their owner records) from
//! the partition they live on, a hold or a split (and its owner record) from the partition that
//! has it, a user's claim from the user's partition (every partition that recorded it must keep
//! the same), everything else from the home partition, counts and totals summed, and every partition's
//! invariants (with an empty transit) must hold. Merchants, terminals and operators must read
//! alike on every partition (the reference stream has arrived everywhere by then).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use kassa_engine::command::{CaptureHold, PlaceHold, Submission};
use kassa_engine::partition::{HOME_PARTITION, PartitionId, Placement};
use kassa_engine::runtime::QueryError;
use kassa_engine::state_machine::{Archived, ArchivedKind};
use kassa_engine::{Command, Engine, Id, Principal, SubmitError};

use crate::model::{
    Probe, StateView, engine_authorization_line, engine_bill_line, engine_coupon_line, engine_hold_line,
    engine_settlement_line, engine_split_line, engine_view,
};

/// What a command touches, as far as waves care.
enum Touch<'a> {
    /// These accounts and transfer ids.
    Accounts(Vec<&'a Id>, Vec<&'a Id>),
    /// Accounts found through other objects (holds, bills, ...): any of the home partition's.
    Anything,
}

/// A hold's payer and payee.
type Parties<'a> = (&'a Id, &'a Id);

fn touch<'a>(command: &'a Command, crossing_hold: Option<Parties<'a>>) -> Touch<'a> {
    if let (
        Some((from, to)),
        Command::PlaceHold(PlaceHold { id, .. }) | Command::CaptureHold(CaptureHold { hold: id, .. }),
    ) = (crossing_hold, command)
    {
        return Touch::Accounts(vec![from, to], vec![id]);
    }
    match command {
        Command::OpenAccount(open) => Touch::Accounts(vec![&open.account], vec![]),
        Command::CloseAccount { account } => Touch::Accounts(vec![account], vec![]),
        Command::Deposit(movement) | Command::Withdraw(movement) => Touch::Accounts(vec![&movement.account], vec![]),
        Command::Transfer(transfer) => Touch::Accounts(vec![&transfer.from, &transfer.to], vec![&transfer.id]),
        Command::TransferBatch(batch) => Touch::Accounts(
            batch.transfers.iter().flat_map(|transfer| [&transfer.from, &transfer.to]).collect(),
            batch.transfers.iter().map(|transfer| &transfer.id).collect(),
        ),
        _ => Touch::Anything,
    }
}

/// The accounts and ids of one wave.
#[derive(Default)]
struct Wave<'a> {
    touched: HashSet<&'a Id>,
    ids: HashSet<&'a Id>,
    anything: bool,
    in_flight: HashSet<&'a Id>,
    in_flight_ids: HashSet<&'a Id>,
    placements: HashSet<&'a Id>,
    /// The split ids requested in the wave (routed by the directory, as placements).
    split_requests: HashSet<&'a Id>,
    /// Commands admitted; a sealed wave admits no more (a POS command crossing partitions).
    admitted: usize,
    sealed: bool,
}

impl<'a> Wave<'a> {
    /// Whether `command` may join the wave, and if so, adds it. `crossing_hold`: the parties of
    /// a placement or capture whose payee lives on another partition than its payer.
    fn admit(&mut self, placement: &Placement, command: &'a Command, crossing_hold: Option<Parties<'a>>) -> bool {
        if self.sealed {
            return false;
        }
        self.admitted += 1;
        let apart = |transfer: &kassa_engine::command::Transfer| {
            placement.of_account(&transfer.from) != placement.of_account(&transfer.to)
        };
        let crossing = match command {
            Command::Transfer(transfer) => apart(transfer),
            // Legs whose payees live elsewhere cross as transfers do (a linked batch's payees
            // are reserved there first); so do legs applied on their payers' partitions.
            Command::TransferBatch(batch) => {
                let first = batch.transfers.first().map(|transfer| placement.of_account(&transfer.from));
                batch
                    .transfers
                    .iter()
                    .any(|transfer| apart(transfer) || Some(placement.of_account(&transfer.from)) != first)
            }
            _ => crossing_hold.is_some(),
        };
        let places_hold = match command {
            Command::PlaceHold(place) => Some(&place.id),
            Command::SettlePos(settle) if settle.hold_until_ms.is_some() => Some(&settle.id),
            _ => None,
        };
        if let Some(id) = places_hold
            && !self.placements.insert(id)
        {
            return false;
        }
        if let Command::RequestSplit(request) = command
            && !self.split_requests.insert(&request.split)
        {
            return false;
        }
        match touch(command, crossing_hold) {
            Touch::Anything => {
                if !self.in_flight.is_empty() {
                    return false;
                }
                self.anything = true;
            }
            Touch::Accounts(accounts, ids) => {
                let in_flight = accounts.iter().any(|id| self.in_flight.contains(id))
                    || ids.iter().any(|id| self.in_flight_ids.contains(id));
                let seen =
                    accounts.iter().any(|id| self.touched.contains(id)) || ids.iter().any(|id| self.ids.contains(id));
                if in_flight || (crossing && (self.anything || seen)) {
                    return false;
                }
                if crossing {
                    self.in_flight.extend(accounts.iter().copied());
                    self.in_flight_ids.extend(ids.iter().copied());
                }
                self.touched.extend(accounts);
                self.ids.extend(ids);
            }
        }
        true
    }
}

/// `batch` cut into waves (ranges, in order) whose outcomes do not depend on the order in
/// which the partitions apply them. One wave when there is one partition. `hold_parties`: the
/// payer and payee of a hold placed before the batch (the model's).
pub fn waves<'a>(
    placement: &Placement,
    batch: &'a [Submission],
    hold_parties: impl Fn(&Id) -> Option<Parties<'a>>,
    crossing_from_home: impl Fn(&Submission) -> bool,
) -> Vec<Range<usize>> {
    if placement.count() == 1 || batch.is_empty() {
        return std::iter::once(0..batch.len()).collect();
    }
    // The holds this batch places, by id (the first placement of an id is the one that counts).
    let mut placed: HashMap<&Id, Parties<'a>> = HashMap::new();
    let mut waves = Vec::new();
    let mut start = 0;
    let mut wave = Wave::default();
    for (index, submission) in batch.iter().enumerate() {
        let parties = match &submission.command {
            Command::PlaceHold(place) => Some(*placed.entry(&place.id).or_insert((&place.from, &place.to))),
            Command::CaptureHold(capture) => placed.get(&capture.hold).copied().or_else(|| hold_parties(&capture.hold)),
            _ => None,
        };
        let crossing_hold = parties.filter(|(from, to)| placement.of_account(from) != placement.of_account(to));
        let alone = crossing_from_home(submission);
        if (alone && wave.admitted > 0) || !wave.admit(placement, &submission.command, crossing_hold) {
            waves.push(start..index);
            start = index;
            wave = Wave::default();
            assert!(wave.admit(placement, &submission.command, crossing_hold), "an empty wave admits anything");
        }
        wave.sealed = alone;
    }
    waves.push(start..batch.len());
    waves
}

/// The visible state of every partition, merged (see the module's documentation).
pub fn engine_state(engine: &Engine, probe: &Probe) -> Result<StateView, SubmitError> {
    let placement = engine.placement().clone();
    let mut views = Vec::new();
    for partition in 0..placement.count() {
        let probe = probe.clone();
        let view = engine.read_partition_blocking(partition, move |machine| {
            let mut view = engine_view(machine, &probe);
            let in_flight = machine.transit().in_flight();
            if !in_flight.is_empty() && view.get("invariants").is_some_and(|verdict| verdict == "ok") {
                view.insert("invariants".into(), format!("broken: money in transit after the answer: {in_flight:?}"));
            }
            let reservations = machine.transit().reservations();
            if reservations != (0, 0) && view.get("invariants").is_some_and(|verdict| verdict == "ok") {
                let broken = format!("broken: reservations after the answer: {reservations:?}");
                view.insert("invariants".into(), broken);
            }
            view
        })?;
        views.push(view);
    }
    let mut merged = merge(&placement, views);
    read_archived(engine, &mut merged)?;
    Ok(merged)
}

/// Fills in the objects the state no longer holds (and their owners) from storage, as the
/// engine's lookups answer them (`state_machine/archive.rs`).
fn read_archived(engine: &Engine, view: &mut StateView) -> Result<(), SubmitError> {
    for (key, line) in view.iter_mut().filter(|(_, line)| line.as_str() == MISSING) {
        let found = archived_line(engine, key).map_err(|error| match error {
            QueryError::Engine(error) => error,
            _ => SubmitError::StorageFailed,
        })?;
        if let Some(found) = found {
            *line = found;
        }
    }
    Ok(())
}

/// The view line of `key` (`kind:id`, or `owner:Kind:id`) as storage answers it.
fn archived_line(engine: &Engine, key: &str) -> Result<Option<String>, QueryError> {
    let admin = Principal::Admin;
    let Some((kind, id)) = key.split_once(':') else { return Ok(None) };
    if kind == "owner" {
        return archived_owner(engine, id);
    }
    let id = Id::new(id).expect("a valid id");
    Ok(match kind {
        "authorization" => engine.authorization(&admin, &id)?.map(|found| engine_authorization_line(&found)),
        "settlement" => engine.settlement(&admin, &id)?.map(|found| engine_settlement_line(&found)),
        "hold" => engine.hold(&admin, &id)?.map(|found| engine_hold_line(&found)),
        "bill" => engine.bill(&admin, &id)?.map(|found| engine_bill_line(&found)),
        "split" => engine.split(&admin, &id)?.map(|found| engine_split_line(&found)),
        "coupon" => engine.coupon(&admin, &id)?.map(|found| engine_coupon_line(&found.coupon)),
        _ => None,
    })
}

/// The owner line of `Kind:id` as storage keeps it.
fn archived_owner(engine: &Engine, key: &str) -> Result<Option<String>, QueryError> {
    let Some((kind, id)) = key.split_once(':') else { return Ok(None) };
    let kind = match kind {
        "Authorization" => ArchivedKind::Authorization,
        "Hold" => ArchivedKind::Hold,
        "Bill" => ArchivedKind::Bill,
        "Split" => ArchivedKind::Split,
        _ => return Ok(None),
    };
    let owner = match engine.archived_object(kind, &Id::new(id).expect("a valid id"))? {
        Some(Archived::Authorization(found)) => found.owner,
        Some(Archived::Hold(found)) => found.owner,
        Some(Archived::Bill(found)) => found.owner,
        Some(Archived::Split(found)) => found.owner,
        _ => None,
    };
    Ok(owner.map(|owner| format!("{owner:?}")))
}

/// The objects that live on one partition, whichever it is.
const ONE_PARTITION: [&str; 9] = [
    "hold:",
    "owner:Hold:",
    "split:",
    "owner:Split:",
    "authorization:",
    "owner:Authorization:",
    "settlement:",
    "bill:",
    "owner:Bill:",
];

/// What a partition's view says of an object it does not hold.
const MISSING: &str = "<missing in the engine>";

fn merge(placement: &Placement, views: Vec<StateView>) -> StateView {
    let mut merged = StateView::new();
    let mut accounts = 0u64;
    let mut totals: std::collections::BTreeMap<String, (u128, u128)> = Default::default();
    let mut broken: Option<String> = None;
    let mut recorded_claims = Vec::new();
    for (partition, view) in views.into_iter().enumerate() {
        let partition = PartitionId::try_from(partition).expect("at most PARTITIONS_MAX");
        for (key, value) in view {
            if key == "accounts:count" {
                accounts += value.parse::<u64>().expect("a count");
            } else if let Some(currency) = key.strip_prefix("totals:") {
                let (deposited, withdrawn) = parse_totals(&value);
                let sum = totals.entry(currency.to_string()).or_default();
                sum.0 += deposited;
                sum.1 += withdrawn;
            } else if key == "invariants" {
                if value != "ok" && broken.is_none() {
                    broken = Some(format!("partition {partition}: {value}"));
                }
            } else if ONE_PARTITION.iter().any(|prefix| key.starts_with(prefix)) {
                // A hold is on one partition (its payer's, or its sale's), a split on its
                // requester's, an authorization, a settlement and a bill on their user's, missing
                // on the others.
                if value != MISSING || !merged.contains_key(&key) {
                    merged.insert(key, value);
                }
            } else if is_reference(&key) && partition != HOME_PARTITION {
                // Every partition applies the home partition's reference stream.
                if merged.get(&key) != Some(&value) && broken.is_none() {
                    broken = Some(format!("partition {partition} has {key} = {value}, the home partition not"));
                }
            } else if let Some(user) = key.strip_prefix("owner:User:") {
                // A claim is decided on the user's partition; a partition that recorded it (a
                // command for the user applied there) keeps the same.
                if placement.of_user(&Id::new(user).expect("a valid id")) == partition {
                    merged.insert(key.clone(), value.clone());
                } else if value != MISSING {
                    recorded_claims.push((partition, key, value));
                }
            } else if owner_partition(placement, &key) == partition {
                merged.insert(key, value);
            }
        }
    }
    for (partition, key, value) in recorded_claims {
        if merged.get(&key) != Some(&value) && broken.is_none() {
            broken =
                Some(format!("partition {partition} has {key} = {value}, the user's partition {:?}", merged.get(&key)));
        }
    }
    merged.insert("invariants".into(), broken.unwrap_or_else(|| "ok".into()));
    merged.insert("accounts:count".into(), accounts.to_string());
    for (currency, (deposited, withdrawn)) in totals {
        merged.insert(format!("totals:{currency}"), format!("in={deposited} out={withdrawn}"));
    }
    merged
}

/// Whether `key` is a merchant, terminal or operator: the reference stream's objects.
fn is_reference(key: &str) -> bool {
    ["merchant:", "terminal:", "operator:"].iter().any(|prefix| key.starts_with(prefix))
}

/// The partition whose answer for `key` counts: an account's own, else the home partition.
fn owner_partition(placement: &Placement, key: &str) -> PartitionId {
    let account = key.strip_prefix("account:").or_else(|| key.strip_prefix("owner:Account:"));
    match account.and_then(|id| Id::new(id).ok()) {
        Some(id) => placement.of_account(&id),
        None => HOME_PARTITION,
    }
}

fn parse_totals(value: &str) -> (u128, u128) {
    let field = |name: &str| -> u128 {
        value
            .split(' ')
            .find_map(|part| part.strip_prefix(name))
            .and_then(|number| number.parse().ok())
            .expect("totals as `in=N out=N`")
    };
    (field("in="), field("out="))
}
