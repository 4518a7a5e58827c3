//! `kassa verify --data-dir`: a sound directory passes with a summary; a torn, never-acknowledged
//! write at the end of RocksDB's log is reported and passes; damage fails (exit 1) with the same
//! error the engine refuses to open with, naming the file (and byte) or the snapshot. The damaged
//! directories come from the storage fault helpers of `kassa-tests` (`tests/src/faults.rs`, whose
//! storage fault tests cover every fault against `Engine::open` and the check itself).

use std::path::Path;
use std::process::{Command, Output};

use kassa_engine::command::Submission;
use kassa_engine::command::{Command as EngineCommand, Movement, OpenAccount};
use kassa_engine::wal::verify::verify_data_dir;
use kassa_engine::{Currency, Engine, EngineConfig, Id};

// Only `std` and `kassa_engine`, so it can be shared by path; this test uses part of it.
#[allow(dead_code)]
#[path = "../../tests/src/faults.rs"]
mod faults;

fn kassa_verify(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kassa")).args(["verify", "--data-dir"]).arg(dir).output().unwrap()
}

/// Runs `kassa verify` on a damaged directory: exit 1, the engine's own diagnosis on stderr,
/// naming `names`, and no file changed.
fn fails_naming(dir: &Path, names: &str) -> String {
    let before = faults::fingerprint(dir);
    let output = kassa_verify(dir);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let diagnosis = verify_data_dir(dir).unwrap_err().to_string();
    assert!(stderr.contains(&format!("kassa verify: {}: {diagnosis}", dir.display())), "{stderr}");
    assert!(stderr.contains(names), "the error names {names}: {stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("OK"));
    assert_eq!(faults::fingerprint(dir), before, "kassa verify changed the files");
    stderr
}

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
        assert!(engine.submit_blocking(Submission::admin(open)).unwrap().is_applied());
        for n in 0..5 {
            let deposit = Movement { id: Id::new(&format!("d{n}")).unwrap(), account: account.clone(), amount: 10 };
            assert!(engine.submit_blocking(Submission::admin(EngineCommand::Deposit(deposit))).unwrap().is_applied());
        }
    }
    let before = faults::fingerprint(dir.path());
    let output = kassa_verify(dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("EUR: deposited 50 withdrawn 0"), "{stdout}");
    assert!(stdout.contains("kassa verify: OK"), "{stdout}");
    assert_eq!(faults::fingerprint(dir.path()), before, "kassa verify is read-only");

    let empty = tempfile::tempdir().unwrap();
    let output = kassa_verify(empty.path());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a kassa data directory"));
}

#[test]
fn verify_reports_a_torn_write_and_passes() {
    let root = tempfile::tempdir().unwrap();
    let image = faults::crash_image_with_deposits(root.path());
    let (log, torn) = faults::tear_last_log_record(&image);
    let output = kassa_verify(&image);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    let note = format!("note: {} ends in a torn write ({} bytes at byte {})", log.display(), torn.len / 2, torn.offset);
    assert!(stdout.contains(&note), "{stdout}");
    // Deposit d19 was torn: 19 of them are there.
    assert!(stdout.contains(&format!("EUR: deposited {} withdrawn 0", faults::DEPOSITS - 1)), "{stdout}");
}

#[test]
fn verify_fails_on_damaged_log_records() {
    for from_end in [0, 10] {
        let root = tempfile::tempdir().unwrap();
        let image = faults::crash_image_with_deposits(root.path());
        let (log, record) = faults::flip_log_record(&image, from_end);
        let stderr =
            fails_naming(&image, &format!("RocksDB log {} is damaged at byte {}", log.display(), record.offset));
        assert!(stderr.contains("not a torn write"), "{stderr}");
    }
}

#[test]
fn verify_fails_on_damaged_or_missing_table_files() {
    let root = tempfile::tempdir().unwrap();
    let clean = faults::cleanly_shut_down(root.path(), u64::MAX);
    for (index, table) in faults::table_files(&clean).iter().enumerate() {
        let copy = root.path().join(format!("flipped-{index}"));
        faults::copy_dir(&clean, &copy);
        let damaged = copy.join(table.file_name().unwrap());
        faults::flip_bit(&damaged, faults::FIRST_DATA_BLOCK_OFFSET);
        let stderr = fails_naming(&copy, &damaged.display().to_string());
        assert!(stderr.contains("block checksum mismatch"), "{stderr}");
    }
    let newest = faults::table_files(&clean).pop().unwrap();
    std::fs::remove_file(&newest).unwrap();
    fails_naming(&clean, &format!("table file {} is missing", newest.display()));
}
