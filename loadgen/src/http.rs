//! The HTTP target: `POST /v1/transfers` on `kassa serve`, over keep-alive HTTP/1.1
//! connections (a minimal client: one request in flight per connection, closed loop).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::NetworkLoad;
use crate::report::{Recorder, Report, gather, measured_time};
use crate::skew::AccountPicker;

/// Largest response body read, in bytes.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

/// One keep-alive HTTP/1.1 connection.
pub struct HttpConnection {
    stream: BufReader<TcpStream>,
    head: String,
}

impl HttpConnection {
    /// Connects.
    pub async fn connect(addr: SocketAddr, api_key: &str) -> std::io::Result<HttpConnection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let head = format!("Host: {addr}\r\nAuthorization: Bearer {api_key}\r\nContent-Type: application/json\r\n");
        Ok(HttpConnection { stream: BufReader::new(stream), head })
    }

    /// Sends a POST and returns the status and body.
    pub async fn post(&mut self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let request = format!("POST {path} HTTP/1.1\r\n{}Content-Length: {}\r\n\r\n{body}", self.head, body.len());
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 =
            line.split(' ').nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| bad("status line"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().map_err(|_| bad("content-length"))?;
            }
        }
        if length > RESPONSE_BYTES_MAX {
            return Err(bad("response too large"));
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The error code of a JSON error body, or the status.
fn code_of(status: u16, body: &str) -> String {
    if status == 200 {
        return "applied".into();
    }
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("http_{status}"))
}

/// Runs the load.
pub async fn run(load: NetworkLoad) -> Result<Report, String> {
    let run = format!("lg{}", load.run);
    // Setup: accounts and deposits from 32 connections at once.
    let next = Arc::new(AtomicU64::new(0));
    let mut setup = Vec::new();
    for _ in 0..32 {
        let (next, load, run) = (next.clone(), load.clone(), run.clone());
        setup.push(tokio::spawn(async move {
            let mut connection = HttpConnection::connect(load.addr, &load.api_key).await.map_err(|e| e.to_string())?;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                if index >= load.accounts {
                    return Ok::<(), String>(());
                }
                let open = format!(r#"{{"id":"{run}-a{index}","currency":"EUR"}}"#);
                let (status, body) = connection.post("/v1/accounts", &open).await.map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("open account: {status} {body}"));
                }
                let deposit = format!(r#"{{"id":"{run}-f{index}","amount":1000000000}}"#);
                let path = format!("/v1/accounts/{run}-a{index}/deposits");
                let (status, body) = connection.post(&path, &deposit).await.map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("deposit: {status} {body}"));
                }
            }
        }));
    }
    for task in setup {
        task.await.map_err(|error| error.to_string())??;
    }
    let picker = Arc::new(AccountPicker::new(load.accounts, load.skew));
    let started = Instant::now();
    let (measure_from, deadline) = (started + load.warmup, started + load.warmup + load.duration);
    let sequence = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for lane in 0..load.connections {
        let (picker, sequence, run) = (picker.clone(), sequence.clone(), run.clone());
        let mut connection = HttpConnection::connect(load.addr, &load.api_key).await.map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(lane as u64);
            let mut recorder = Recorder::default();
            while Instant::now() < deadline {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let (from, to) = picker.pick_pair(&mut rng);
                let body = format!(
                    r#"{{"id":"{run}-t{n}","from":"{run}-a{from}","to":"{run}-a{to}","amount":{},"currency":"EUR"}}"#,
                    1 + n % 100
                );
                let sent = Instant::now();
                let (result, broken) = match connection.post("/v1/transfers", &body).await {
                    Ok((status, body)) => (code_of(status, &body), false),
                    Err(_) => ("connection_error".to_string(), true),
                };
                if sent >= measure_from {
                    recorder.record(sent.elapsed(), [result]);
                }
                if broken {
                    break; // This lane's connection is gone; the report counts the error.
                }
            }
            recorder
        }));
    }
    let recorder = gather(tasks).await?;
    let elapsed = measured_time(measure_from, deadline);
    let description = format!(
        "POST /v1/transfers to {}, {} accounts ({:?}), {} keep-alive connections",
        load.addr, load.accounts, load.skew, load.connections
    );
    Ok(Report::new("http", description, &recorder, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_json_body() {
        assert_eq!(code_of(200, "{}"), "applied");
        assert_eq!(code_of(422, r#"{"error":{"code":"insufficient_funds","message":"x"}}"#), "insufficient_funds");
        assert_eq!(code_of(503, "busy"), "http_503");
    }
}
