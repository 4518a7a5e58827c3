//! The Rust client's retries against a real `kassa serve`: `Busy` answered with backoff until
//! every command applies, and a server killed (SIGKILL) and restarted mid-stream: the client
//! reconnects, resends what had no answer, and every deposit is applied exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_KEY, Server};
use kassa_adapters::tcp::{RetryPolicy, RetryingClient};
use kassa_engine::command::{Command, Movement, OpenAccount};
use kassa_engine::{Currency, Id, Outcome};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn deposit(n: usize) -> Command {
    Command::Deposit(Movement { id: id(&format!("dep-{n}")), account: id("a"), amount: 1 })
}

/// Submits `count` deposits at once from as many tasks; every one must apply.
async fn deposit_all(client: &Arc<RetryingClient>, count: usize) {
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { client.submit(deposit(n)).await })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap().expect("retried until it answered");
        assert!(outcome.is_applied(), "{outcome:?}");
    }
}

fn open_account(runtime: &tokio::runtime::Runtime, client: &RetryingClient) {
    let open = Command::OpenAccount(OpenAccount { account: id("a"), currency: Currency::EUR, overdraft_limit: 0 });
    assert_eq!(runtime.block_on(client.submit(open)).unwrap(), Outcome::Applied(kassa_engine::Reply::Done));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn busy_is_retried_with_backoff_until_every_command_applies() {
    let server = Server::start(&["--mailbox-max", "1"]);
    let runtime = runtime();
    let policy = RetryPolicy { busy_retries: 1_000, backoff_max: Duration::from_millis(20), ..RetryPolicy::default() };
    let client = Arc::new(runtime.block_on(RetryingClient::connect(server.tcp, ADMIN_KEY, policy)).unwrap());
    open_account(&runtime, &client);
    runtime.block_on(deposit_all(&client, 500));
    assert_eq!(server.balance("a").0, 500);
    assert!(client.retries().0 > 0, "the mailbox of 1 answered Busy");
}

#[test]
fn a_killed_server_is_reconnected_and_unanswered_requests_resent_once() {
    let mut server = Server::start(&[]);
    let runtime = runtime();
    let policy = RetryPolicy { reconnects: 200, backoff_max: Duration::from_millis(100), ..RetryPolicy::default() };
    let client = Arc::new(runtime.block_on(RetryingClient::connect(server.tcp, ADMIN_KEY, policy)).unwrap());
    open_account(&runtime, &client);
    // Eight submitters deposit one after another until told to stop, so the kill always lands
    // mid-stream, however fast the machine.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let submitters: Vec<_> = (0..8)
        .map(|submitter| {
            let (client, stop) = (client.clone(), stop.clone());
            runtime.spawn(async move {
                let mut sent = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let outcome = client.submit(deposit(submitter * 1_000_000 + sent)).await;
                    assert!(outcome.expect("retried until it answered").is_applied());
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    server.restart(); // SIGKILL, then the same data directory and ports.
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: usize = submitters.into_iter().map(|task| runtime.block_on(task).unwrap()).sum();
    // Every deposit once: the ones applied before the kill answered their first outcome again.
    assert_eq!(server.balance("a").0, i64::try_from(sent).unwrap());
    assert!(client.retries().1 > 0, "the client reconnected");
}
