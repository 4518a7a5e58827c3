//! Embedding kassa: open a durable engine, move money, settle a POS purchase with a secure code,
//! reopen it and see that everything acknowledged is still there.
//!
//! Run: `cargo run -p kassa-engine --example embed [DATA_DIR]`

use kassa_engine::command::Submission;
use kassa_engine::command::{
    Authorize, Command, Movement, OpenAccount, RegisterMerchant, RegisterTerminal, Reply, SettlePos, Transfer,
};
use kassa_engine::runtime::random_nonce;
use kassa_engine::{Currency, Engine, EngineConfig, Id, Outcome};

fn id(text: &str) -> Id {
    Id::new(text).expect("valid id")
}

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let data_dir = std::env::args().nth(1).map_or_else(|| std::env::temp_dir().join("kassa-embed-example"), Into::into);
    let _ = std::fs::remove_dir_all(&data_dir);
    let eur = Currency::from_alpha("EUR")?;
    let engine = std::sync::Arc::new(Engine::open(EngineConfig::new(&data_dir))?);
    set_up(&engine, eur).await?;
    transfer_concurrently(&engine, eur).await?;
    sell_with_a_secure_code(&engine, eur).await?;

    let balances =
        engine.read(|machine| (machine.account(&id("alice")).cloned(), machine.account(&id("cafe")).cloned())).await?;
    println!("alice: {:?}\ncafe:  {:?}", balances.0, balances.1);
    println!("cafe history (last 3): {:#?}", engine.history(&id("cafe"), 3)?);
    engine.shutdown();
    drop(engine);

    // Reopen: the log (and snapshot, if any) brings back every acknowledged command.
    let (engine, report) = Engine::open_with_report(EngineConfig::new(&data_dir))?;
    println!("reopened: {report:?}");
    let alice = engine.read(|machine| machine.account(&id("alice")).map(|account| account.posted)).await?;
    assert_eq!(alice, Some(10_000 - 1_000 - 1_234));
    println!("alice after reopening: {alice:?} (as before)");
    engine.shutdown();
    drop(engine);
    Ok(())
}

/// Two accounts, a deposit, a merchant and its terminal: one batch, one fsync; every outcome
/// arrives once the batch is durable.
async fn set_up(engine: &Engine, eur: Currency) -> Result<(), Error> {
    let setup = vec![
        Command::OpenAccount(OpenAccount { account: id("alice"), currency: eur, overdraft_limit: 0 }),
        Command::OpenAccount(OpenAccount { account: id("cafe"), currency: eur, overdraft_limit: 0 }),
        Command::Deposit(Movement { id: id("dep-1"), account: id("alice"), amount: 10_000 }),
        Command::RegisterMerchant(RegisterMerchant { merchant: id("m-cafe"), account: id("cafe") }),
        Command::RegisterTerminal(RegisterTerminal {
            terminal: id("pos-7"),
            merchant: id("m-cafe"),
            mac_key: None,
            location: None,
        }),
    ];
    for outcome in engine.submit_batch(Submission::admin_all(setup)).await? {
        assert!(outcome.is_applied(), "{outcome:?}");
    }
    Ok(())
}

/// 1,000 concurrent transfers share a handful of fsyncs (group commit).
async fn transfer_concurrently(engine: &std::sync::Arc<Engine>, eur: Currency) -> Result<(), Error> {
    let mut tasks = Vec::new();
    for n in 0..1_000 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let transfer =
                Transfer { id: id(&format!("t-{n}")), from: id("alice"), to: id("cafe"), amount: 1, currency: eur };
            engine.submit(Submission::admin(Command::Transfer(transfer))).await
        }));
    }
    for task in tasks {
        assert!(task.await??.is_applied());
    }
    Ok(())
}

/// The user's phone authorizes 25.00 and shows a code; later the POS settles 12.34 with it.
async fn sell_with_a_secure_code(engine: &Engine, eur: Currency) -> Result<(), Error> {
    let expires_at_ms = engine.read(|machine| machine.state_now_ms()).await? + 3_600_000;
    let authorize = Authorize {
        id: id("auth-1"),
        user: id("u-alice"),
        account: id("alice"),
        limit: 2_500,
        expires_at_ms,
        nonce: random_nonce(),
    };
    let Outcome::Applied(Reply::Authorized { code, .. }) =
        engine.submit(Submission::admin(Command::Authorize(authorize))).await?
    else {
        panic!("authorization refused")
    };
    println!("secure code for the POS: {code}");
    let settle = SettlePos {
        id: id("pos-7-000001"),
        user: id("u-alice"),
        code,
        amount: 1_234,
        currency: eur,
        terminal: id("pos-7"),
        coupon: None,
        hold_until_ms: None,
        location: None,
    };
    println!("POS settlement: {:?}", engine.submit(Submission::admin(Command::SettlePos(settle))).await?);
    Ok(())
}
