//! Real clients against a real `kassa serve` on loopback: the independent Python clients in
//! `tests/clients/kassa_clients_test.py` (HTTP with urllib, ISO 8583 with pyiso8583), then a
//! graceful SIGTERM. Needs a Python with `pyiso8583` (`.ci/run` makes `.venv`; or set
//! KASSA_PYTHON).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "test-admin-key-0123456789";

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn python() -> PathBuf {
    if let Ok(python) = std::env::var("KASSA_PYTHON") {
        return python.into();
    }
    let venv = repository_root().join(".venv/bin/python3");
    if venv.exists() { venv } else { "python3".into() }
}

fn healthy(http: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&http, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /ready HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn independent_clients_over_http_and_iso8583() {
    let python = python();
    let probe = Command::new(&python).args(["-c", "import iso8583"]).status();
    assert!(
        probe.is_ok_and(|status| status.success()),
        "{} cannot import iso8583: run .ci/run, or `python3 -m venv .venv && .venv/bin/pip install pyiso8583`",
        python.display()
    );
    let data_dir = tempfile::tempdir().unwrap();
    let (http, tcp, iso) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_kassa"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir.path().join("data"))
        .args(["--http", &http.to_string(), "--tcp", &tcp.to_string(), "--iso8583", &iso.to_string()])
        .args(["--admin-key", ADMIN_KEY])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("kassa serve starts");
    let mut server = Server(child);
    let started = Instant::now();
    while !healthy(http) {
        assert!(started.elapsed() < Duration::from_secs(60), "kassa serve did not become healthy");
        assert!(server.0.try_wait().unwrap().is_none(), "kassa serve exited early");
        std::thread::sleep(Duration::from_millis(100));
    }

    let script = repository_root().join("tests/clients/kassa_clients_test.py");
    let mut client = Command::new(&python)
        .arg(script)
        .env("KASSA_HTTP", http.to_string())
        .env("KASSA_ISO8583", iso.to_string())
        .env("KASSA_ADMIN_KEY", ADMIN_KEY)
        .spawn()
        .expect("python starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = client.kill();
            panic!("the client script did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the independent clients found a failure (see stderr above)");

    // Graceful shutdown on SIGTERM: it drains and exits 0.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "kassa serve exited with {status} after SIGTERM");
            break;
        }
        assert!(Instant::now() < deadline, "kassa serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
