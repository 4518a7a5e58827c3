//! Idempotency past the id table's window (`runtime/recall.rs`): with simulated time, a
//! transfer and a deposit retried days later, after the table forgot them, get their first
//! answers and move nothing (another body: `IdReused`), again after a reopen (the storage's
//! answer is logged with its batch); a retry past the retention, or with the retention cut to
//! the table's window, applies anew.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{Command, Movement, OpenAccount, Submission, Transfer};
use kassa_engine::runtime::Clock;
use kassa_engine::{Currency, Engine, EngineConfig, Id, Outcome, Principal, Rejection, Reply};

const DAY_MS: u64 = 24 * 3_600_000;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn config(dir: &std::path::Path, now: &Arc<AtomicU64>, retention_ms: u64) -> EngineConfig {
    let mut config = super::events::config(dir, 1);
    config.clock = Clock::Manual(now.clone());
    config.idempotency_retention_ms = retention_ms;
    config
}

fn submit(engine: &Engine, command: Command) -> Outcome {
    engine.submit_blocking(Submission::admin(command)).unwrap()
}

fn transfer(amount: u64) -> Command {
    Command::Transfer(Transfer { id: id("t-1"), from: id("a"), to: id("b"), amount, currency: Currency::EUR })
}

fn deposit() -> Command {
    Command::Deposit(Movement { id: id("d-1"), account: id("a"), amount: 1_000 })
}

fn balance(engine: &Engine, account: &str) -> i64 {
    let account = id(account);
    engine.read_partition_blocking(0, move |machine| machine.account(&account).unwrap().posted).unwrap()
}

/// Opens a and b, deposits 1,000 into a and moves 100 to b.
fn populate(engine: &Engine) {
    for account in ["a", "b"] {
        let open = OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 };
        assert!(submit(engine, Command::OpenAccount(open)).is_applied());
    }
    assert!(submit(engine, deposit()).is_applied());
    assert!(submit(engine, transfer(100)).is_applied());
}

/// Moves the clock on by `days`, where other commands apply (an account opens). Days later the
/// indexer has long moved what was applied before into the index's table files; in simulated
/// time that takes waiting for it to index those commands (a lookup waits).
fn days_later(engine: &Engine, now: &AtomicU64, days: u64) {
    let day = now.fetch_add(days * DAY_MS, Ordering::SeqCst) / DAY_MS + days;
    let open = OpenAccount { account: id(&format!("day-{day}")), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(submit(engine, Command::OpenAccount(open)).is_applied());
    engine.transfer(&Principal::Admin, &id("t-1")).unwrap();
}

#[test]
fn late_retries_within_the_retention_get_their_first_answers() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let engine = Engine::open(config(dir.path(), &now, 30 * DAY_MS)).unwrap();
    populate(&engine);
    days_later(&engine, &now, 3);
    let done = Outcome::Applied(Reply::Done);
    assert_eq!(submit(&engine, transfer(100)), done);
    assert_eq!(submit(&engine, deposit()), done);
    assert_eq!(submit(&engine, transfer(99)), Outcome::Rejected(Rejection::IdReused));
    assert_eq!((balance(&engine, "a"), balance(&engine, "b")), (900, 100), "nothing applied twice");
    engine.shutdown();
    drop(engine);

    // Replayed from the log, the storage's answers are the same.
    let engine = Engine::open(config(dir.path(), &now, 30 * DAY_MS)).unwrap();
    assert_eq!((balance(&engine, "a"), balance(&engine, "b")), (900, 100));
    days_later(&engine, &now, 10);
    assert_eq!(submit(&engine, transfer(100)), done);
    assert_eq!(balance(&engine, "a"), 900);
    // Past the retention, the id is new again.
    days_later(&engine, &now, 40);
    assert_eq!(submit(&engine, transfer(100)), done);
    assert_eq!((balance(&engine, "a"), balance(&engine, "b")), (800, 200));
}

#[test]
fn without_a_retention_past_the_window_a_retry_applies_anew() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let engine = Engine::open(config(dir.path(), &now, DAY_MS)).unwrap();
    populate(&engine);
    days_later(&engine, &now, 3);
    assert!(submit(&engine, transfer(100)).is_applied());
    assert!(submit(&engine, deposit()).is_applied());
    assert_eq!((balance(&engine, "a"), balance(&engine, "b")), (1_800, 200));
}
