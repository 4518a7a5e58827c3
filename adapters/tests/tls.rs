//! TLS on a real `kassa serve` (`--tls-cert`, `--tls-key`): HTTP and the TCP binary protocol
//! answer over TLS with a certificate a client verifies, a plain-text peer gets nothing, and a key
//! file that others may read is refused at start. The certificates in `tests/fixtures/` are for
//! these tests only (a test CA and a `localhost` / 127.0.0.1 leaf, valid for a century).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ADMIN_KEY, free_port, serve_command};
use kassa_adapters::tcp::frame::{decode_body, encode_frame};
use kassa_adapters::tcp::{PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The fixture key copied with `mode` (git keeps no permissions).
fn key_file(dir: &Path, mode: u32) -> PathBuf {
    let key = dir.join("server.key");
    std::fs::copy(fixture("server.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    key
}

fn connector() -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls(addr: std::net::SocketAddr) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    connector().connect(ServerName::try_from("localhost").unwrap(), stream).await
}

/// Sends one request frame and reads one response frame.
async fn exchange<S: AsyncReadExt + AsyncWriteExt + Unpin>(stream: &mut S, request: &Request) -> Response {
    let mut frame = Vec::new();
    encode_frame(request, &mut frame).unwrap();
    stream.write_all(&frame).await.unwrap();
    let length = stream.read_u32().await.unwrap() as usize;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    decode_body(&body).unwrap()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn http_and_the_binary_protocol_speak_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 0o600);
    let (http, tcp, iso) = (free_port(), free_port(), free_port());
    let mut serve = serve_command(&dir.path().join("data"), http, tcp, iso);
    serve.arg("--tls-cert").arg(fixture("server.pem")).arg("--tls-key").arg(&key);
    let _server = Killed(serve.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let started = Instant::now();
        let mut session = loop {
            if let Ok(session) = tls(tcp).await {
                break session;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no TLS listener");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let hello = RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: ADMIN_KEY.to_string() };
        let welcome = exchange(&mut session, &Request { request_id: 1, body: hello }).await;
        assert!(matches!(welcome.body, ResponseBody::Welcome { .. }), "{welcome:?}");
        let pong = exchange(&mut session, &Request { request_id: 2, body: RequestBody::Ping }).await;
        assert_eq!(pong.body, ResponseBody::Pong);

        let mut https = tls(http).await.expect("HTTPS");
        https.write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let _ = https.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\"ready\""), "{answer}");

        // A plain-text Hello is not a TLS ClientHello: no Welcome ever comes back.
        let mut plain = TcpStream::connect(tcp).await.unwrap();
        let mut frame = Vec::new();
        let hello = RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: ADMIN_KEY.to_string() };
        encode_frame(&Request { request_id: 1, body: hello }, &mut frame).unwrap();
        let _ = plain.write_all(&frame).await;
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), plain.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "the server closed the plain-text connection");
        assert!(decode_body::<Response>(reply.get(4..).unwrap_or(&[])).is_err(), "no protocol reply in clear text");
    });
}

#[test]
fn a_tls_key_that_others_may_read_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 0o644);
    let (http, tcp, iso) = (free_port(), free_port(), free_port());
    let mut serve = serve_command(&dir.path().join("data"), http, tcp, iso);
    serve.arg("--tls-cert").arg(fixture("server.pem")).arg("--tls-key").arg(&key);
    let output = serve.stdout(Stdio::null()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("may be read by others") && stderr.contains("chmod 600"), "{stderr}");
}
