//! The embedded engine: submit, batch, read, reopen, Busy under a full mailbox.

use kassa_engine::command::Submission;
use kassa_engine::command::{Command, Movement, OpenAccount, Transfer};
use kassa_engine::{Currency, Engine, EngineConfig, Id, Rejection, SubmitError};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn open_accounts() -> Vec<Command> {
    vec![
        Command::OpenAccount(OpenAccount { account: id("a"), currency: Currency::EUR, overdraft_limit: 0 }),
        Command::OpenAccount(OpenAccount { account: id("b"), currency: Currency::EUR, overdraft_limit: 0 }),
        Command::Deposit(Movement { id: id("d"), account: id("a"), amount: 1_000 }),
    ]
}

#[test]
fn commands_are_durable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(EngineConfig::new(dir.path())).unwrap();
        assert!(
            engine
                .submit_batch_blocking(Submission::admin_all(open_accounts()))
                .unwrap()
                .iter()
                .all(|outcome| outcome.is_applied())
        );
        let transfer = Transfer { id: id("t"), from: id("a"), to: id("b"), amount: 400, currency: Currency::EUR };
        assert!(engine.submit_blocking(Submission::admin(Command::Transfer(transfer))).unwrap().is_applied());
        let too_much = Transfer { id: id("t2"), from: id("a"), to: id("b"), amount: 601, currency: Currency::EUR };
        let outcome = engine.submit_blocking(Submission::admin(Command::Transfer(too_much))).unwrap();
        assert_eq!(outcome.rejection(), Some(Rejection::InsufficientFunds));
        assert_eq!(engine.history(&id("a"), 10).unwrap().len(), 2);
    }
    let (engine, report) = Engine::open_with_report(EngineConfig::new(dir.path())).unwrap();
    assert!(report.records_replayed >= 1);
    let balances = engine
        .read_blocking(|machine| (machine.account(&id("a")).unwrap().posted, machine.account(&id("b")).unwrap().posted))
        .unwrap();
    assert_eq!(balances, (600, 400));
}

#[test]
fn snapshots_trim_the_log_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.snapshot_every_commands = 10;
    config.tick_interval_ms = 0;
    {
        let engine = Engine::open(config.clone()).unwrap();
        engine.submit_batch_blocking(Submission::admin_all(open_accounts())).unwrap();
        for n in 0..50 {
            let transfer =
                Transfer { id: id(&format!("t{n}")), from: id("a"), to: id("b"), amount: 1, currency: Currency::EUR };
            assert!(engine.submit_blocking(Submission::admin(Command::Transfer(transfer))).unwrap().is_applied());
        }
    }
    let (engine, report) = Engine::open_with_report(config).unwrap();
    assert!(report.snapshot_seq > 0, "{report:?}");
    assert!(report.records_replayed < 10, "{report:?}");
    let b = engine.read_blocking(|machine| machine.account(&id("b")).unwrap().posted).unwrap();
    assert_eq!(b, 50);
}

#[test]
fn a_full_mailbox_answers_busy_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.mailbox_max = 1;
    config.tick_interval_ms = 0;
    let engine = std::sync::Arc::new(Engine::open(config).unwrap());
    engine.submit_batch_blocking(Submission::admin_all(open_accounts())).unwrap();
    // Flood from many threads: some requests must see Busy, none may hang or be lost.
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let (mut busy, mut applied) = (0, 0);
                for n in 0..200 {
                    let transfer = Transfer {
                        id: id(&format!("t{thread}-{n}")),
                        from: id("a"),
                        to: id("b"),
                        amount: 1,
                        currency: Currency::EUR,
                    };
                    match engine.submit_blocking(Submission::admin(Command::Transfer(transfer))) {
                        Ok(outcome) if outcome.is_applied() => applied += 1,
                        Ok(outcome) => panic!("{outcome:?}"),
                        Err(SubmitError::Busy) => busy += 1,
                        Err(error) => panic!("{error}"),
                    }
                }
                (busy, applied)
            })
        })
        .collect();
    let (mut busy, mut applied) = (0, 0);
    for thread in threads {
        let (b, a) = thread.join().unwrap();
        busy += b;
        applied += a;
    }
    assert!(busy > 0, "a mailbox of one must turn some requests away");
    let b = engine.read_blocking(|machine| machine.account(&id("b")).unwrap().posted).unwrap();
    assert_eq!(b, applied, "every applied transfer and nothing else reached the account");
}

#[test]
fn submit_with_calls_back_exactly_once_or_refuses_at_once() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.mailbox_max = 2;
    config.tick_interval_ms = 0;
    let engine = std::sync::Arc::new(Engine::open(config).unwrap());
    engine.submit_batch_blocking(Submission::admin_all(open_accounts())).unwrap();
    let called_back = std::sync::Arc::new(AtomicU64::new(0));
    let (answers, answered) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let (engine, called_back, answers) = (engine.clone(), called_back.clone(), answers.clone());
            std::thread::spawn(move || {
                let mut refused = 0u64;
                for n in 0..300 {
                    let transfer = Transfer {
                        id: id(&format!("w{thread}-{n}")),
                        from: id("a"),
                        to: id("b"),
                        amount: 1,
                        currency: Currency::EUR,
                    };
                    let (called_back, answers) = (called_back.clone(), answers.clone());
                    let submitted = engine.submit_with(Submission::admin(Command::Transfer(transfer)), move |result| {
                        called_back.fetch_add(1, Ordering::SeqCst);
                        answers.send(result).unwrap();
                    });
                    match submitted {
                        Ok(()) => {}
                        Err(SubmitError::Busy) => refused += 1,
                        Err(error) => panic!("{error}"),
                    }
                }
                refused
            })
        })
        .collect();
    drop(answers);
    let refused: u64 = threads.into_iter().map(|thread| thread.join().unwrap()).sum();
    let mut applied = 0;
    for result in answered {
        assert!(result.unwrap().is_applied());
        applied += 1;
    }
    assert!(refused > 0, "a mailbox of two must turn some requests away");
    assert_eq!(applied + refused, 1_200, "every submission was either refused or answered");
    assert_eq!(called_back.load(Ordering::SeqCst), applied, "no callback ran twice or for a refusal");
    let b = engine.read_blocking(|machine| machine.account(&id("b")).unwrap().posted).unwrap();
    assert_eq!(u64::try_from(b).unwrap(), applied);
}

#[test]
fn an_id_table_beyond_its_most_is_refused_at_open_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.ids_max = kassa_engine::state_machine::IDS_MAX_MAX + 1;
    let error = Engine::open(config).err().expect("refused").to_string();
    assert!(error.contains("ids_max must be at most"), "{error}");
}
