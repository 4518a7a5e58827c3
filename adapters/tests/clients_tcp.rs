//! The Python and TypeScript clients of the TCP protocol (`clients/`), byte for byte against
//! docs/protocol.md and end to end against this build's `kassa serve` (started and stopped by
//! `clients/run-tests.sh` on free loopback ports). Needs python3 (>= 3.9) and node (>= 18):
//! `scripts/setup-debian.sh` installs them.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn python_and_typescript_clients_pass_their_suites_against_a_live_server() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let status = Command::new("bash")
        .arg(root.join("clients/run-tests.sh"))
        .env("KASSA_BIN", env!("CARGO_BIN_EXE_kassa"))
        .status()
        .expect("bash runs clients/run-tests.sh");
    assert!(status.success(), "the client suites failed: {status}");
}
