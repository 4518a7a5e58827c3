//! Schemathesis, an independent OpenAPI fuzzer, against a real `kassa serve`: every operation of
//! the served document, with requests that match it and requests that do not, checked against
//! the document's statuses and schemas (adapters/tests/schemathesis.toml says what counts).
//! Bounded in examples and time, one fixed seed. Needs `schemathesis` in `.venv` (`.ci/run`
//! installs it; or set KASSA_SCHEMATHESIS).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{ADMIN_KEY, Server};

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn schemathesis() -> PathBuf {
    match std::env::var("KASSA_SCHEMATHESIS") {
        Ok(path) => path.into(),
        Err(_) => repository_root().join(".venv/bin/schemathesis"),
    }
}

#[test]
fn schemathesis_finds_no_failure_in_any_operation() {
    let program = schemathesis();
    assert!(
        program.exists(),
        "{} is missing: run .ci/run (or scripts/setup-debian.sh), or `.venv/bin/pip install schemathesis==4.32.5`",
        program.display()
    );
    let server = Server::start(&[]);
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let reports = tempfile::tempdir().unwrap();
    let output = Command::new(&program)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://{}/openapi.json", server.http))
        .args(["--header", &format!("Authorization: Bearer {ADMIN_KEY}")])
        // One worker: with two, the fuzzer's own lambda-source parsing (hypothesis, Python's
        // `ast`) once failed with "AST constructor recursion depth mismatch", an error of the
        // tool's threads, not an answer of the server.
        .args(["--max-examples", "10", "--max-time", "150", "--workers", "1", "--seed", "1"])
        // The event feed's long poll may take 30 s by design.
        .args(["--request-timeout", "45", "--no-shrink", "--continue-on-failure"])
        .arg("--report-dir")
        .arg(reports.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found failures:\n{text}");
    assert!(text.contains("Tested: "), "schemathesis tested nothing:\n{text}");
    server.assert_still_serving();
}
