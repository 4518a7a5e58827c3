//! `kassa verify --data-dir`: a sound directory passes, anything else fails with a reason.

use std::process::Command;

use kassa_engine::command::{Command as EngineCommand, Movement, OpenAccount};
use kassa_engine::{Currency, Engine, EngineConfig, Id};

#[test]
fn verify_checks_a_data_directory_offline() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(EngineConfig::new(dir.path())).unwrap();
        let account = Id::new("a").unwrap();
        let open = EngineCommand::OpenAccount(OpenAccount {
            account: account.clone(),
            currency: Currency::EUR,
            overdraft_limit: 0,
        });
        assert!(engine.submit_blocking(open).unwrap().is_applied());
        for n in 0..5 {
            let deposit = Movement { id: Id::new(&format!("d{n}")).unwrap(), account: account.clone(), amount: 10 };
            assert!(engine.submit_blocking(EngineCommand::Deposit(deposit)).unwrap().is_applied());
        }
    }
    let output =
        Command::new(env!("CARGO_BIN_EXE_kassa")).args(["verify", "--data-dir"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("EUR: deposited 50 withdrawn 0"), "{stdout}");
    assert!(stdout.contains("kassa verify: OK"), "{stdout}");

    let empty = tempfile::tempdir().unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_kassa")).args(["verify", "--data-dir"]).arg(empty.path()).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a kassa data directory"));
}
