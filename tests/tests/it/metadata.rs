//! Metadata on what commands create: logged with the command, stored with the history, found
//! by lookups and in the event feed, shown only to whoever may read the object, kept across a
//! reopen, and the first metadata kept when an id is retried.

use kassa_engine::command::{Command, Movement, OpenAccount, PlaceHold, Submission, Transfer};
use kassa_engine::metadata::{Metadata, MetadataKind};
use kassa_engine::runtime::QueryError;
use kassa_engine::{Currency, Engine, Event, Id, Outcome, Principal, Rejection};

use super::events::config;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn order(value: &str) -> Metadata {
    Metadata::new([("order_id".to_owned(), value.to_owned()), ("channel".to_owned(), "web".to_owned())]).unwrap()
}

fn submit(engine: &Engine, principal: &Principal, command: Command, metadata: Option<Metadata>) -> Outcome {
    let mut submission = Submission::new(principal.clone(), command);
    if let Some(metadata) = metadata {
        submission = submission.with_metadata(metadata);
    }
    engine.submit_blocking(submission).unwrap()
}

fn transfer(name: &str, from: &str, to: &str, amount: u64) -> Command {
    Command::Transfer(Transfer { id: id(name), from: id(from), to: id(to), amount, currency: Currency::EUR })
}

/// Two apps with two accounts each, the first app's funded.
fn populate(engine: &Engine, shop: &Principal, other: &Principal) {
    for (owner, account) in [(shop, "s1"), (shop, "s2"), (other, "o1"), (other, "o2")] {
        let open = OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 };
        assert!(submit(engine, owner, Command::OpenAccount(open), None).is_applied());
    }
    let deposit = Movement { id: id("d1"), account: id("s1"), amount: 10_000 };
    assert!(submit(engine, &Principal::Admin, Command::Deposit(deposit), None).is_applied());
}

fn annotated_ids(engine: &Engine, principal: &Principal) -> Vec<(MetadataKind, Id)> {
    let page = engine.events(principal, None, 1_000).unwrap();
    let annotated = page.events.into_iter().filter_map(|line| match line.record.event {
        Event::Annotated { kind, id, .. } => Some((kind, id)),
        _ => None,
    });
    annotated.collect()
}

#[test]
fn lookups_and_the_feed_show_metadata_to_readers_only_and_keep_it_across_a_reopen() {
    for partitions in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(config(dir.path(), partitions)).unwrap();
        let (shop, other) = (Principal::App(id("shop")), Principal::App(id("other")));
        populate(&engine, &shop, &other);
        // s1 -> o1 crosses partitions when placement puts them apart: annotated once, on the debit.
        for (name, to) in [("t1", "s2"), ("t2", "o1")] {
            assert!(submit(&engine, &shop, transfer(name, "s1", to, 100), Some(order(name))).is_applied());
        }
        // A retry with other metadata answers as the first did and keeps the first metadata.
        assert!(submit(&engine, &shop, transfer("t1", "s1", "s2", 100), Some(order("changed"))).is_applied());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let expires_at_ms = u64::try_from(now.as_millis()).unwrap() + 3_600_000;
        let hold =
            PlaceHold { id: id("h1"), from: id("s1"), to: id("s2"), amount: 5, currency: Currency::EUR, expires_at_ms };
        if partitions == 1 {
            assert!(submit(&engine, &shop, Command::PlaceHold(hold), Some(order("h1"))).is_applied());
        }
        // A command that creates nothing metadata fits is refused whole.
        let deposit = Command::Deposit(Movement { id: id("d2"), account: id("s1"), amount: 1 });
        let refused = submit(&engine, &Principal::Admin, deposit, Some(order("d2")));
        assert_eq!(refused, Outcome::Rejected(Rejection::MetadataNotSupported));

        let check = |engine: &Engine| {
            for name in ["t1", "t2"] {
                let record = engine.transfer(&shop, &id(name)).unwrap().unwrap();
                assert_eq!(record.metadata, order(name), "{name} on {partitions} partitions");
                assert_eq!(engine.metadata(&shop, MetadataKind::Transfer, &id(name)).unwrap(), order(name));
            }
            // The payee's tenant reads the transfer it received, not the payer's metadata (as in
            // the feed below).
            assert!(engine.transfer(&other, &id("t2")).unwrap().is_some());
            assert!(engine.metadata(&other, MetadataKind::Transfer, &id("t2")).unwrap().is_empty());
            assert!(matches!(engine.metadata(&other, MetadataKind::Transfer, &id("t1")), Err(QueryError::Forbidden)));
            let mut expected = vec![(MetadataKind::Transfer, id("t1")), (MetadataKind::Transfer, id("t2"))];
            if partitions == 1 {
                assert_eq!(engine.metadata(&shop, MetadataKind::Hold, &id("h1")).unwrap(), order("h1"));
                assert!(matches!(engine.metadata(&other, MetadataKind::Hold, &id("h1")), Err(QueryError::Forbidden)));
                expected.push((MetadataKind::Hold, id("h1")));
            }
            assert_eq!(annotated_ids(engine, &shop), expected);
            assert_eq!(annotated_ids(engine, &Principal::Admin), expected);
            assert!(
                annotated_ids(engine, &other).is_empty(),
                "the feed shows a transfer's metadata to its payer's readers"
            );
            // Nothing attached (or no such object, to the admin): an empty map.
            assert!(engine.metadata(&Principal::Admin, MetadataKind::Bill, &id("none")).unwrap().is_empty());
            assert!(engine.metadata(&Principal::Admin, MetadataKind::Transfer, &id("none")).unwrap().is_empty());
            assert!(matches!(engine.metadata(&shop, MetadataKind::Transfer, &id("none")), Err(QueryError::Forbidden)));
        };
        check(&engine);
        engine.shutdown();
        drop(engine);
        let engine = Engine::open(config(dir.path(), partitions)).unwrap();
        check(&engine);
    }
}
