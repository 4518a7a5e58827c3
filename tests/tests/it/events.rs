//! The event feed (`Engine::events`): every event of every acknowledged command in log order,
//! paged by position, the same positions after a reopen, transfers between partitions seen on
//! both sides, and each tenant shown only the events of what it may read.

use kassa_engine::command::{Change, Command, Movement, ObjectKind, OpenAccount, PostingCause, Submission, Transfer};
use kassa_engine::wal::{EventLine, LineId};
use kassa_engine::{Currency, Engine, EngineConfig, Event, Id, Principal};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn app(name: &str) -> Principal {
    Principal::App(id(name))
}

/// An engine on `dir` with `partitions`, no ticker, a snapshot every 20 commands (shared with
/// `metadata.rs`).
pub(crate) fn config(dir: &std::path::Path, partitions: u16) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.partitions = partitions;
    config.tick_interval_ms = 0;
    config.snapshot_every_commands = 20;
    config.secret_key = Some([9; 32]);
    config
}

fn submit(engine: &Engine, principal: &Principal, command: Command) {
    let outcome = engine.submit_blocking(Submission::new(principal.clone(), command)).unwrap();
    assert!(outcome.is_applied(), "{outcome:?}");
}

fn open(engine: &Engine, owner: &Principal, account: &str) {
    let open = OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 };
    submit(engine, owner, Command::OpenAccount(open));
}

fn deposit(engine: &Engine, name: &str, account: &str, amount: u64) {
    let movement = Movement { id: id(name), account: id(account), amount };
    submit(engine, &Principal::Admin, Command::Deposit(movement));
}

fn transfer(engine: &Engine, owner: &Principal, name: &str, from: &str, to: &str, amount: u64) {
    let transfer = Transfer { id: id(name), from: id(from), to: id(to), amount, currency: Currency::EUR };
    submit(engine, owner, Command::Transfer(transfer));
}

/// The whole feed as `principal` sees it, read in pages of `limit`.
fn feed(engine: &Engine, principal: &Principal, limit: usize) -> Vec<EventLine> {
    let (mut events, mut after) = (Vec::new(), None);
    loop {
        let page = engine.events(principal, after, limit).unwrap();
        assert!(page.events.len() <= limit);
        events.extend(page.events);
        after = page.next_after;
        if !page.has_more {
            return events;
        }
    }
}

fn postings_of(events: &[EventLine], transfer: &str) -> Vec<(String, i64)> {
    let cause = PostingCause::Transfer(id(transfer));
    let postings = events.iter().filter_map(|line| match &line.record.event {
        Event::Posting(posting) if posting.cause == cause => Some((posting.account.to_string(), posting.posted_delta)),
        _ => None,
    });
    postings.collect()
}

/// Alice's app owns a1 and a2, Bob's app b1; money moves between all three.
fn populate(engine: &Engine) {
    let (alice, bob) = (app("alice-app"), app("bob-app"));
    open(engine, &alice, "a1");
    open(engine, &alice, "a2");
    open(engine, &bob, "b1");
    deposit(engine, "d1", "a1", 1_000);
    transfer(engine, &alice, "t1", "a1", "a2", 300);
    transfer(engine, &alice, "t2", "a1", "b1", 200);
}

#[test]
fn the_feed_pages_in_log_order_and_keeps_its_positions_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path(), 1)).unwrap();
    populate(&engine);
    let all = feed(&engine, &Principal::Admin, 1_000);
    let positions: Vec<LineId> = all.iter().map(|line| line.id).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "positions increase: {positions:?}");
    let opened: Vec<&Id> = all
        .iter()
        .filter_map(|line| match &line.record.event {
            Event::Changed { object: ObjectKind::Account, id, change: Change::Opened } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(opened, [&id("a1"), &id("a2"), &id("b1")]);
    assert_eq!(postings_of(&all, "t1"), [("a1".to_string(), -300), ("a2".to_string(), 300)]);
    // Pages of two give the same feed, and a cursor resumes after it.
    assert_eq!(feed(&engine, &Principal::Admin, 2), all);
    let middle = all[2].id;
    let rest = engine.events(&Principal::Admin, Some(middle), 1_000).unwrap();
    assert_eq!(rest.events, all[3..]);
    assert!(!rest.has_more);
    assert_eq!(rest.next_after, Some(all.last().unwrap().id));
    engine.shutdown();
    drop(engine);

    // Reopened (snapshot + replay): the same events at the same positions, then new ones.
    let engine = Engine::open(config(dir.path(), 1)).unwrap();
    assert_eq!(feed(&engine, &Principal::Admin, 1_000), all);
    deposit(&engine, "d2", "a2", 5);
    let newer = engine.events(&Principal::Admin, Some(all.last().unwrap().id), 1_000).unwrap();
    assert_eq!(newer.events.len(), 1, "{newer:?}");
    assert!(newer.events[0].id > all.last().unwrap().id);
}

#[test]
fn each_tenant_sees_only_the_events_of_what_it_may_read_on_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path(), 3)).unwrap();
    populate(&engine);
    let all = feed(&engine, &Principal::Admin, 1_000);
    // A transfer between partitions shows its debit and its credit (placement may put a1 and
    // b1 together: then the two postings come from one record).
    assert_eq!(postings_of(&all, "t2"), [("a1".to_string(), -200), ("b1".to_string(), 200)]);
    let accounts_in = |events: &[EventLine]| -> Vec<String> {
        let mut accounts: Vec<String> = events
            .iter()
            .map(|line| match &line.record.event {
                Event::Posting(posting) => posting.account.to_string(),
                Event::Changed { id, .. } => id.to_string(),
                Event::CodeRejected { subject } => subject.to_string(),
                Event::Annotated { id, .. } => id.to_string(),
            })
            .collect();
        accounts.sort();
        accounts.dedup();
        accounts
    };
    assert_eq!(accounts_in(&all), ["a1", "a2", "b1"]);
    let alice = feed(&engine, &app("alice-app"), 1);
    assert_eq!(accounts_in(&alice), ["a1", "a2"]);
    let bob = feed(&engine, &app("bob-app"), 1_000);
    assert_eq!(accounts_in(&bob), ["b1"]);
    assert_eq!(postings_of(&bob, "t2"), [("b1".to_string(), 200)]);
    assert!(feed(&engine, &app("mallory-app"), 1_000).is_empty());
    assert_eq!(alice.len() + bob.len(), all.len(), "every event here is about an account of one of them");
}

#[test]
fn transfers_are_found_by_id_by_whoever_may_read_either_side() {
    use kassa_engine::runtime::{QueryError, TransferStatus};
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path(), 3)).unwrap();
    populate(&engine);
    let (alice, bob, mallory) = (app("alice-app"), app("bob-app"), app("mallory-app"));
    let t1 = engine.transfer(&Principal::Admin, &id("t1")).unwrap().expect("t1 applied");
    assert_eq!((t1.from.as_str(), t1.to.as_ref().map(Id::as_str)), ("a1", Some("a2")));
    assert_eq!((t1.amount, t1.currency, t1.status), (300, Currency::EUR, TransferStatus::Posted));
    assert!(t1.credit.unwrap() > t1.debit);
    assert_eq!(engine.transfer(&alice, &id("t1")).unwrap(), Some(t1.clone()));
    assert!(matches!(engine.transfer(&bob, &id("t1")), Err(QueryError::Forbidden)), "neither side is bob's");
    // The payee's tenant sees it too.
    let t2 = engine.transfer(&bob, &id("t2")).unwrap().expect("t2 applied");
    assert_eq!((t2.to.as_ref().map(Id::as_str), t2.status), (Some("b1"), TransferStatus::Posted));
    assert!(matches!(engine.transfer(&mallory, &id("t2")), Err(QueryError::Forbidden)));
    // Unknown: nothing for the admin, forbidden to a tenant.
    assert_eq!(engine.transfer(&Principal::Admin, &id("nope")).unwrap(), None);
    assert!(matches!(engine.transfer(&alice, &id("nope")), Err(QueryError::Forbidden)));

    // Refused by the payee's partition (a closed account there): debited, then refunded.
    let placement = engine.placement().clone();
    let payer = placement.of_account(&id("a1"));
    let closed = (0..100).map(|n| format!("closed-{n}")).find(|name| placement.of_account(&id(name)) != payer).unwrap();
    open(&engine, &alice, &closed);
    submit(&engine, &Principal::Admin, Command::CloseAccount { account: id(&closed) });
    let refused = Transfer { id: id("t3"), from: id("a1"), to: id(&closed), amount: 10, currency: Currency::EUR };
    let outcome = engine.submit_blocking(Submission::new(alice.clone(), Command::Transfer(refused)));
    assert_eq!(outcome.unwrap(), kassa_engine::Outcome::Rejected(kassa_engine::Rejection::AccountClosed));
    let t3 = engine.transfer(&alice, &id("t3")).unwrap().expect("debited and refunded");
    assert_eq!((t3.to, t3.status), (None, TransferStatus::Refunded));

    // The index survives a reopen.
    engine.shutdown();
    drop(engine);
    let engine = Engine::open(config(dir.path(), 3)).unwrap();
    assert_eq!(engine.transfer(&alice, &id("t1")).unwrap(), Some(t1));
}
