//! The ISO 8583 target: the POS scenario. Each lane is a terminal: it authorizes a user's
//! account over HTTP (the user's phone getting a secure code), then settles a purchase with that
//! code as an ISO 8583 0200 on the POS channel. Only the 0200 round trip is timed and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use kassa_adapters::iso8583::{Message, decode, encode, frame};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::NetworkLoad;
use crate::http::HttpConnection;
use crate::report::{Recorder, Report, gather, measured_time};
use crate::skew::AccountPicker;

async fn post(connection: &mut HttpConnection, path: &str, body: String) -> Result<serde_json::Value, String> {
    let (status, text) = connection.post(path, &body).await.map_err(|error| error.to_string())?;
    if status != 200 {
        return Err(format!("{path}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|error| error.to_string())
}

/// One 0200 round trip; returns field 39.
async fn settle(stream: &mut TcpStream, request: &Message) -> Result<String, String> {
    let body = encode(request).map_err(|error| error.to_string())?;
    stream.write_all(&frame(&body).map_err(|error| error.to_string())?).await.map_err(|error| error.to_string())?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await.map_err(|error| error.to_string())?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer).await.map_err(|error| error.to_string())?;
    let answer = decode(&answer).map_err(|error| error.to_string())?;
    Ok(answer.get_str(39).unwrap_or("??").to_string())
}

/// Runs the load.
pub async fn run(load: NetworkLoad, http_addr: SocketAddr) -> Result<Report, String> {
    let run = load.run;
    let mut setup = HttpConnection::connect(http_addr, &load.api_key).await.map_err(|error| error.to_string())?;
    let merchant = format!("lg{run}-m");
    post(&mut setup, "/v1/accounts", format!(r#"{{"id":"{merchant}-acc","currency":"EUR"}}"#)).await?;
    post(&mut setup, "/v1/merchants", format!(r#"{{"id":"{merchant}","account":"{merchant}-acc"}}"#)).await?;
    for lane in 0..load.connections {
        let terminal = format!("{:08}", u64::from(run % 1000) * 100_000 + lane as u64);
        post(&mut setup, "/v1/terminals", format!(r#"{{"id":"{terminal}","merchant":"{merchant}"}}"#)).await?;
    }
    for index in 0..load.accounts {
        post(&mut setup, "/v1/accounts", format!(r#"{{"id":"lg{run}-u{index}","currency":"EUR"}}"#)).await?;
        let deposit = format!(r#"{{"id":"lg{run}-f{index}","amount":1000000000}}"#);
        post(&mut setup, &format!("/v1/accounts/lg{run}-u{index}/deposits"), deposit).await?;
    }
    let picker = Arc::new(AccountPicker::new(load.accounts.max(2), load.skew));
    let started = Instant::now();
    let (measure_from, deadline) = (started + load.warmup, started + load.warmup + load.duration);
    let sequence = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for lane in 0..load.connections {
        let (picker, sequence, load) = (picker.clone(), sequence.clone(), load.clone());
        let mut http = HttpConnection::connect(http_addr, &load.api_key).await.map_err(|error| error.to_string())?;
        let mut iso = TcpStream::connect(load.addr).await.map_err(|error| error.to_string())?;
        iso.set_nodelay(true).map_err(|error| error.to_string())?;
        let terminal = format!("{:08}", u64::from(run % 1000) * 100_000 + lane as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(lane as u64);
            let mut recorder = Recorder::default();
            let mut stan = 0u32;
            while Instant::now() < deadline {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let user = picker.pick(&mut rng);
                let pan = format!("9{:05}{:010}", run % 100_000, user);
                let authorize = format!(
                    r#"{{"id":"lg{run}-z{n}","user":"{pan}","account":"lg{run}-u{user}","limit":100000,"expires_in_s":600}}"#
                );
                let Ok(answer) = post(&mut http, "/v1/authorizations", authorize).await else { break };
                let code = answer["code"].as_str().unwrap_or_default().to_string();
                stan = stan % 999_999 + 1;
                let request = Message::new("0200")
                    .map(|message| {
                        message
                            .with(2, pan)
                            .with(3, "000000")
                            .with(4, format!("{:012}", 1 + n % 1_000))
                            .with(11, format!("{stan:06}"))
                            .with(41, terminal.clone())
                            .with(48, code)
                            .with(49, "978")
                    })
                    .expect("a valid MTI");
                let sent = Instant::now();
                let result = match settle(&mut iso, &request).await {
                    Ok(code) if code == "00" => "approved".to_string(),
                    Ok(code) => format!("declined_{code}"),
                    Err(_) => "connection_error".to_string(),
                };
                let broken = result == "connection_error";
                if sent >= measure_from {
                    recorder.record(sent.elapsed(), [result]);
                }
                if broken {
                    break;
                }
            }
            recorder
        }));
    }
    let recorder = gather(tasks).await?;
    let elapsed = measured_time(measure_from, deadline);
    let description = format!(
        "POS: HTTP authorization, then ISO 8583 0200 to {} (timed), {} users ({:?}), {} terminals",
        load.addr, load.accounts, load.skew, load.connections
    );
    Ok(Report::new("iso8583", description, &recorder, elapsed))
}
