//! Splits on an engine of several partitions (`docs/placement.md`, step 4): a split lives with
//! its requester, the commands and reads that name only the split find it through the engine's
//! directory (`runtime/directory.rs`), the lists of an app's and a member's splits span the
//! partitions, a completed split that left memory is refunded through storage on its
//! requester's partition, and a reopen rebuilds the directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{Command, Movement, OpenAccount, PaySplitShare, RequestSplit, SplitMember, SplitShares};
use kassa_engine::partition::PartitionId;
use kassa_engine::runtime::QueryError;
use kassa_engine::state_machine::SplitState;
use kassa_engine::{Currency, Engine, Id, Outcome, Principal, Rejection, Reply, Submission};

use super::partition_holds::{START_MS, WINDOW_MS, balance, config};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn shop() -> Principal {
    Principal::App(id("shop"))
}

fn submit(engine: &Engine, command: Command) -> Outcome {
    engine.submit_blocking(Submission::new(shop(), command)).unwrap()
}

/// A user (`placed`: of a user) or account id named `name-N` placed on `partition`.
pub(super) fn placed_on(engine: &Engine, partition: PartitionId, name: &str) -> Id {
    let placement = engine.placement().clone();
    (0..).map(|index| id(&format!("{name}-{index}"))).find(|id| placement.of_user(id) == partition).unwrap()
}

/// The shop's account on `partition`, holding 1,000.
fn funded(engine: &Engine, partition: PartitionId, name: &str) -> Id {
    let account = placed_on(engine, partition, name);
    let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(submit(engine, Command::OpenAccount(open)).is_applied());
    let deposit = Movement { id: id(&format!("dep-{account}")), account: account.clone(), amount: 1_000 };
    assert!(engine.submit_blocking(Submission::admin(Command::Deposit(deposit))).unwrap().is_applied());
    account
}

fn request(split: &str, requester: &Id, account: &Id, members: &[(Id, Id)], expires_at_ms: u64) -> Command {
    Command::RequestSplit(RequestSplit {
        split: id(split),
        requester: requester.clone(),
        requester_account: account.clone(),
        total: 300,
        currency: Currency::EUR,
        members: members
            .iter()
            .map(|(user, account)| SplitMember { user: user.clone(), account: account.clone() })
            .collect(),
        shares: SplitShares::Equal,
        expires_at_ms,
    })
}

fn pay(split: &str, member: &Id) -> Command {
    Command::PaySplitShare(PaySplitShare { split: id(split), member: member.clone() })
}

fn listed(page: kassa_engine::runtime::ObjectPage<kassa_engine::state_machine::Split>) -> Vec<Id> {
    page.objects.into_iter().map(|(id, _)| id).collect()
}

#[test]
fn splits_live_with_their_requester_and_are_found_by_id_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let (requester, other_requester) = (placed_on(&engine, 2, "requester"), placed_on(&engine, 3, "requester"));
    let payee = funded(&engine, 1, "payee");
    let members = [
        (placed_on(&engine, 0, "member"), funded(&engine, 3, "pays")),
        (placed_on(&engine, 1, "member"), funded(&engine, 2, "pays")),
    ];
    let expires = START_MS + 3_600_000;

    // Requested on partition 2 (its accounts checked where they live), then both shares paid
    // in one batch, routed together to partition 2 and applied there in order.
    let requested = submit(&engine, request("s1", &requester, &payee, &members, expires));
    assert_eq!(requested, Outcome::Applied(Reply::SplitRequested { shares: vec![150, 150] }));
    let batch: Vec<Submission> = [pay("s1", &members[0].0), pay("s1", &members[1].0)]
        .into_iter()
        .map(|command| Submission::new(shop(), command))
        .collect();
    let outcomes = engine.submit_batch_blocking(batch).unwrap();
    // Each member's claim is asked of the member's partition first, so the two may apply in
    // either order (docs/partitions.md, "Users' claims"): one of them completes the split.
    let completed = |outcome: &Outcome| match outcome {
        Outcome::Applied(Reply::SharePaid { amount: 150, completed }) => *completed,
        other => panic!("{other:?}"),
    };
    assert_eq!(outcomes.iter().filter(|outcome| completed(outcome)).count(), 1, "{outcomes:?}");
    assert_eq!(engine.split_partition(&id("s1")).unwrap(), 2);
    assert!(engine.read_partition_blocking(2, |machine| machine.split(&id("s1")).is_some()).unwrap());
    assert_eq!((balance(&engine, &payee), balance(&engine, &members[0].1)), ((1_300, 0), (850, 0)));
    assert!(submit(&engine, request("s0", &other_requester, &payee, &members[..1], expires)).is_applied());
    assert_eq!(engine.split_partition(&id("s0")).unwrap(), 3);

    // Read by id, by the shop's list and by a member's list, across partitions; not by another.
    assert_eq!(engine.split(&shop(), &id("s1")).unwrap().unwrap().state, SplitState::Completed);
    let other = Principal::App(id("other"));
    assert!(matches!(engine.split(&other, &id("s1")), Err(QueryError::Forbidden)));
    assert_eq!(listed(engine.splits_owned(&shop(), 10, None).unwrap()), vec![id("s0"), id("s1")]);
    assert_eq!(listed(engine.member_splits(&shop(), &members[0].0, 10, None).unwrap()), vec![id("s0"), id("s1")]);
    assert!(matches!(engine.member_splits(&other, &members[0].0, 10, None), Err(QueryError::Forbidden)));

    // A window later s1 left memory; its refund is routed through storage to partition 2.
    now.store(START_MS + 3 * WINDOW_MS, Ordering::SeqCst);
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    assert!(!engine.read_partition_blocking(2, |machine| machine.split(&id("s1")).is_some()).unwrap());
    assert_eq!(engine.split_partition(&id("s1")).unwrap(), 2, "storage names its requester's partition");
    assert_eq!(
        submit(&engine, Command::RefundSplit { split: id("s1") }),
        Outcome::Applied(Reply::Refunded { amount: 300, remaining: 0 })
    );
    assert_eq!((balance(&engine, &payee), balance(&engine, &members[0].1)), ((1_000, 0), (1_000, 0)));
    drop(engine);

    // Reopened: the open split is found where it lives, and an unknown split is nobody's.
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(engine.split_partition(&id("s0")).unwrap(), 3);
    assert!(matches!(
        submit(&engine, Command::CancelSplit { split: id("s0") }),
        Outcome::Applied(Reply::SplitCancelled { .. })
    ));
    assert_eq!(engine.split(&shop(), &id("s1")).unwrap().unwrap().state, SplitState::Refunded);
    let unknown = engine.submit_blocking(Submission::admin(pay("nope", &members[0].0))).unwrap();
    assert_eq!(unknown.rejection(), Some(Rejection::SplitNotFound));
}
