//! The HTTP/JSON API of `kassa serve` as a channel: engine commands become requests
//! (`Transfer` -> `POST /v1/transfers`, ...) and answers become engine replies, through a minimal
//! keep-alive HTTP/1.1 client (one request in flight per connection).

use std::borrow::Cow;
use std::net::SocketAddr;

use kassa_engine::command::Command;
use kassa_engine::{Id, Reply};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::channel::{Answer, Failure, REQUEST_TIMEOUT};

mod requests;
pub use requests::{HttpRequest, request_for, seconds_until};

/// Largest response body read, in bytes.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

/// Longest status or header line read, in bytes.
const LINE_BYTES_MAX: u64 = 16 * 1024;

/// One keep-alive HTTP/1.1 connection.
pub struct HttpConnection {
    stream: BufReader<TcpStream>,
    host: String,
    /// Requests answered on this connection so far.
    requests: u64,
}

/// Whether a request failed because the connection was closed before any answer came: written
/// into a closed socket, or closed by the server before the status line.
fn closed_before_answering(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(error.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

impl HttpConnection {
    /// Connects.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<HttpConnection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection { stream: BufReader::new(stream), host: addr.to_string(), requests: 0 })
    }

    /// Whether the server closed the connection (idle keep-alive timeout) or left bytes nobody
    /// asked for: either way it must not carry the next request.
    pub fn is_stale(&self) -> bool {
        if !self.stream.buffer().is_empty() {
            return true;
        }
        let mut byte = [0u8; 1];
        match self.stream.get_ref().try_read(&mut byte) {
            Ok(_) => true, // end of stream, or bytes between answers
            Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
        }
    }

    async fn line(&mut self, line: &mut String) -> std::io::Result<usize> {
        line.clear();
        let read = (&mut self.stream).take(LINE_BYTES_MAX).read_line(line).await?;
        if read > 0 && !line.ends_with('\n') {
            return Err(bad("header line too long or cut"));
        }
        Ok(read)
    }

    /// Sends a request (`body` as JSON) and returns the status and body of the answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        api_key: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {api_key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        if self.line(&mut line).await? == 0 {
            // Closed without answering: the request was not taken (an idle keep-alive close).
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "closed before answering"));
        }
        let status: u16 =
            line.split(' ').nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| bad("status line"))?;
        let mut length = 0usize;
        loop {
            if self.line(&mut line).await? == 0 {
                return Err(bad("connection closed"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| bad("content-length"))?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(bad("chunked answers are not supported"));
                }
            }
        }
        if length > RESPONSE_BYTES_MAX {
            return Err(bad("response too large"));
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        self.requests += 1;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// A lazily (re)connecting HTTP channel: after a transport error the next request reconnects.
pub struct HttpChannel {
    addr: SocketAddr,
    api_key: String,
    operator_key: Option<String>,
    connection: Option<HttpConnection>,
}

impl HttpChannel {
    /// A channel to `addr` with the admin key; `operator_key` is used for coupon redemptions.
    pub fn new(addr: SocketAddr, api_key: String, operator_key: Option<String>) -> HttpChannel {
        HttpChannel { addr, api_key, operator_key, connection: None }
    }

    /// Connects now (workers connect before the clock starts).
    pub async fn connect(&mut self) -> Result<(), String> {
        let connection = HttpConnection::connect(self.addr)
            .await
            .map_err(|error| format!("cannot connect to HTTP {}: {error}", self.addr))?;
        self.connection = Some(connection);
        Ok(())
    }

    /// One request with the admin key (or the operator key); transport errors drop the
    /// connection and come back as `Err(code)`.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
        as_operator: bool,
    ) -> Result<(u16, String), Failure> {
        if self.connection.as_ref().is_none_or(HttpConnection::is_stale) {
            let connection = HttpConnection::connect(self.addr).await.map_err(|_| Failure::fatal("connect_error"))?;
            self.connection = Some(connection);
        }
        let key = match (as_operator, &self.operator_key) {
            (false, _) => self.api_key.as_str(),
            (true, Some(key)) => key.as_str(),
            (true, None) => return Err(Failure::new("no_operator_key")),
        };
        let connection = self.connection.as_mut().expect("connected above");
        let reused = connection.requests > 0;
        let mut result = tokio::time::timeout(REQUEST_TIMEOUT, connection.request(method, path, key, body)).await;
        if reused && matches!(&result, Ok(Err(error)) if closed_before_answering(error)) {
            // The server closed the idle connection as the request went out, so it never saw
            // the request: send it once more on a fresh connection.
            let mut fresh = HttpConnection::connect(self.addr).await.map_err(|_| Failure::fatal("connect_error"))?;
            result = tokio::time::timeout(REQUEST_TIMEOUT, fresh.request(method, path, key, body)).await;
            self.connection = Some(fresh);
        }
        match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => {
                self.connection = None;
                Err(Failure::new("connection_error"))
            }
            Err(_) => {
                self.connection = None;
                Err(Failure::new("timeout"))
            }
        }
    }

    /// Runs one engine command over the API.
    pub async fn execute(&mut self, command: &Command, now_ms: u64) -> Answer {
        let request = request_for(command, now_ms)?;
        let (status, body) =
            self.send(request.method, &request.path, request.body.as_deref(), request.as_operator).await?;
        reply_for(command, status, &body)
    }
}

/// Whether a code from the network is a plain snake-case word (reports print it as it is).
fn is_plain_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// The error code of a JSON error body, or `http_<status>`.
pub fn error_code(status: u16, body: &str) -> Cow<'static, str> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value["error"]["code"].as_str().map(str::to_string))
        .filter(|code| is_plain_code(code))
        .map_or_else(|| Cow::Owned(format!("http_{status}")), Cow::Owned)
}

/// The engine reply an answer stands for, or the error code.
pub fn reply_for(command: &Command, status: u16, body: &str) -> Answer {
    if status != 200 {
        return Err(Failure::code(error_code(status, body)));
    }
    let value: Value = serde_json::from_str(body).map_err(|_| Failure::new("bad_response"))?;
    let number = |field: &str| value[field].as_u64().ok_or_else(|| Failure::new("bad_response"));
    let text = |field: &str| value[field].as_str().map(str::to_string).ok_or_else(|| Failure::new("bad_response"));
    let reply = match command {
        Command::Authorize(_) => Reply::Authorized { code: text("code")?, expires_at_ms: number("expires_at_ms")? },
        Command::SubmitBill(_) => Reply::BillSubmitted { total: number("total")?, challenge: text("challenge")? },
        Command::SettlePos(_) => {
            if value["approved"].as_bool() != Some(true) {
                let code = value["decline_code"].as_str().filter(|code| is_plain_code(code)).unwrap_or("declined");
                return Err(Failure::code(Cow::Owned(code.to_string())));
            }
            Reply::Settled {
                approval_code: text("approval_code")?,
                charged: number("charged")?,
                discount: number("discount")?,
            }
        }
        Command::PaySplitShare(_) => Reply::SharePaid {
            amount: number("paid_amount")?,
            completed: value["completed"].as_bool().ok_or_else(|| Failure::new("bad_response"))?,
        },
        Command::CaptureHold(_) => Reply::Captured { captured: number("captured")?, released: number("released")? },
        Command::CancelSplit { .. } => Reply::SplitCancelled { refunded: number("refunded")? },
        Command::RefundSplit { .. } => Reply::Refunded { amount: number("refunded")?, remaining: 0 },
        Command::RefundPos(_) | Command::RefundBill(_) => {
            Reply::Refunded { amount: number("amount")?, remaining: number("remaining")? }
        }
        Command::IssueCoupon(_) => Reply::CouponIssued { code: text("code")? },
        Command::ClaimCoupon(_) => Reply::CouponClaimed { code: text("code")? },
        Command::RedeemCoupon(_) => Reply::CouponRedeemed {
            discount: number("discount")?,
            payable: number("payable")?,
            reward_coupon: value["reward_coupon"].as_str().and_then(|id| Id::new(id).ok()),
        },
        _ => Reply::Done,
    };
    Ok(reply)
}

/// `GET` a JSON object; `Err` with a description when it cannot.
pub async fn get_json(channel: &mut HttpChannel, path: &str) -> Result<Value, String> {
    let (status, body) = channel.send("GET", path, None, false).await.map_err(|failure| failure.code.to_string())?;
    if status != 200 {
        return Err(format!("GET {path}: {status} {body}"));
    }
    serde_json::from_str(&body).map_err(|error| format!("GET {path}: {error}"))
}

/// `POST` a JSON body with the admin key and return the JSON answer; `Err` with a description.
pub async fn post_json(channel: &mut HttpChannel, path: &str, body: &Value) -> Result<Value, String> {
    let (status, text) = channel
        .send("POST", path, Some(&body.to_string()), false)
        .await
        .map_err(|failure| format!("POST {path}: {}", failure.code))?;
    if status != 200 {
        return Err(format!("POST {path}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|error| format!("POST {path}: {error}"))
}

/// Connections the setup phase and the conservation queries use at once.
const PARALLEL_CONNECTIONS: usize = 32;

/// Work spread over parallel connections.
enum Job {
    /// A setup command that must apply.
    Run(Command),
    /// An account's posted balance.
    Balance(Id),
    /// A split's escrow (`collected`).
    Escrow(Id),
}

async fn job(channel: &mut HttpChannel, job: &Job) -> Result<i128, String> {
    match job {
        Job::Run(command) => match channel.execute(command, crate::channel::now_ms()).await {
            Ok(_) => Ok(0),
            Err(failure) => Err(format!("setup: {} refused: {}", command.kind(), failure.code)),
        },
        Job::Balance(account) => {
            let value = get_json(channel, &format!("/v1/accounts/{account}")).await?;
            value["balance"].as_i64().map(i128::from).ok_or_else(|| format!("account {account}: no balance"))
        }
        Job::Escrow(split) => {
            let value = get_json(channel, &format!("/v1/splits/{split}")).await?;
            value["collected"].as_u64().map(i128::from).ok_or_else(|| format!("split {split}: no collected"))
        }
    }
}

/// Runs `jobs` over parallel connections; the sum of their values, or the first error.
async fn fan_out(addr: SocketAddr, api_key: &str, jobs: Vec<Job>) -> Result<i128, String> {
    let jobs = std::sync::Arc::new(jobs);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL_CONNECTIONS.min(jobs.len()) {
        let (jobs, next, api_key) = (jobs.clone(), next.clone(), api_key.to_string());
        tasks.spawn(async move {
            let mut channel = HttpChannel::new(addr, api_key, None);
            channel.connect().await?;
            let mut sum = 0i128;
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(work) = jobs.get(index) else { return Ok::<i128, String>(sum) };
                sum += job(&mut channel, work).await?;
            }
        });
    }
    let mut sum = 0i128;
    while let Some(result) = tasks.join_next().await {
        sum += result.map_err(|error| error.to_string())??;
    }
    Ok(sum)
}

/// Runs the setup phases over parallel connections, phase after phase; every command must apply.
pub async fn setup(addr: SocketAddr, api_key: &str, phases: &[Vec<Command>]) -> Result<(), String> {
    for phase in phases {
        fan_out(addr, api_key, phase.iter().cloned().map(Job::Run).collect()).await?;
    }
    Ok(())
}

/// Creates an API key for the merchant operator (coupon redemptions need an operator's key).
pub async fn create_operator_key(addr: SocketAddr, api_key: &str, operator: &Id) -> Result<String, String> {
    let mut channel = HttpChannel::new(addr, api_key.to_string(), None);
    channel.connect().await?;
    let answer =
        post_json(&mut channel, "/v1/keys", &json!({"role": "operator", "operator": operator.as_str()})).await?;
    answer["key"].as_str().map(str::to_string).ok_or_else(|| "POST /v1/keys: no key in the answer".into())
}

/// The sum of the balances of `accounts` (`GET /v1/accounts/{id}`) and of the escrow of
/// `splits` (`GET /v1/splits/{id}`).
pub async fn balances(
    addr: SocketAddr,
    api_key: &str,
    accounts: Vec<Id>,
    splits: Vec<Id>,
) -> Result<(i128, i128), String> {
    let balances = fan_out(addr, api_key, accounts.into_iter().map(Job::Balance).collect()).await?;
    let escrow = fan_out(addr, api_key, splits.into_iter().map(Job::Escrow).collect()).await?;
    Ok((balances, escrow))
}

#[cfg(test)]
mod tests {
    use kassa_engine::Currency;
    use kassa_engine::command::{Authorize, CaptureHold, Refund, SettlePos, Transfer};

    use super::*;

    fn id(text: &str) -> Id {
        Id::new(text).unwrap()
    }

    #[test]
    fn commands_become_requests() {
        let transfer = Command::Transfer(Transfer {
            id: id("t1"),
            from: id("a"),
            to: id("b"),
            amount: 250,
            currency: Currency::EUR,
        });
        let request = request_for(&transfer, 0).unwrap();
        assert_eq!((request.method, request.path.as_str()), ("POST", "/v1/transfers"));
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"id": "t1", "from": "a", "to": "b", "amount": 250, "currency": "EUR"}));
        let authorize = Command::Authorize(Authorize {
            id: id("z1"),
            user: id("u1"),
            account: id("a"),
            limit: 100,
            expires_at_ms: 1_300_500,
            nonce: 9,
        });
        let body: Value = serde_json::from_str(&request_for(&authorize, 1_000_000).unwrap().body.unwrap()).unwrap();
        assert_eq!(body["expires_in_s"], 301, "rounded up");
        let capture = Command::CaptureHold(CaptureHold { hold: id("iso:00000001:000007"), amount: 5 });
        assert_eq!(request_for(&capture, 0).unwrap().path, "/v1/holds/iso:00000001:000007/capture");
        let hold = SettlePos {
            id: id("s"),
            user: id("u"),
            code: "1".into(),
            amount: 1,
            currency: Currency::EUR,
            terminal: id("t"),
            coupon: None,
            hold_until_ms: Some(5),
            location: None,
        };
        assert_eq!(request_for(&Command::SettlePos(hold), 0).unwrap_err().code, "unsupported_over_http");
        assert_eq!(seconds_until(1_000, 2_000), 1, "never zero");
        let refund = Refund { refund: id("r1"), of: id("s1"), amount: 40 };
        for (command, path) in [
            (Command::RefundPos(refund.clone()), "/v1/pos/settlements/s1/refunds"),
            (Command::RefundBill(refund), "/v1/bills/s1/refunds"),
        ] {
            let request = request_for(&command, 0).unwrap();
            assert_eq!(request.path, path);
            let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
            assert_eq!(body, json!({"id": "r1", "amount": 40}));
        }
    }

    /// A server that answers one request per connection and closes it, like an idle keep-alive
    /// timeout at the worst moment.
    async fn one_answer_per_connection() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn connections_closed_by_the_server_are_replaced() {
        let mut channel = HttpChannel::new(one_answer_per_connection().await, "key".into(), None);
        for _ in 0..5 {
            assert_eq!(channel.send("POST", "/v1/transfers", Some("{}"), false).await, Ok((200, "{}".into())));
        }
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut channel = HttpChannel::new(unused, "key".into(), None);
        let failure = channel.send("GET", "/health", None, false).await.unwrap_err();
        assert!(failure.fatal && failure.code == "connect_error", "{failure:?}");
    }

    #[test]
    fn answers_become_replies_or_codes() {
        let authorize = Command::Authorize(Authorize {
            id: id("z1"),
            user: id("u1"),
            account: id("a"),
            limit: 100,
            expires_at_ms: 1,
            nonce: 9,
        });
        let reply = reply_for(&authorize, 200, r#"{"code":"12345678","expires_at_ms":77}"#).unwrap();
        assert_eq!(reply, Reply::Authorized { code: "12345678".into(), expires_at_ms: 77 });
        assert_eq!(reply_for(&authorize, 200, r#"{"code":5}"#).unwrap_err().code, "bad_response");
        assert_eq!(reply_for(&authorize, 200, "not json").unwrap_err().code, "bad_response");
        let failure = reply_for(&authorize, 422, r#"{"error":{"code":"insufficient_funds","message":"x"}}"#);
        assert_eq!(failure.unwrap_err().code, "insufficient_funds");
        assert_eq!(reply_for(&authorize, 503, "busy").unwrap_err().code, "http_503");
        let hostile = r#"{"error":{"code":"\u001b[2Jgotcha","message":"x"}}"#;
        assert_eq!(reply_for(&authorize, 422, hostile).unwrap_err().code, "http_422");
        let settle = Command::SettlePos(SettlePos {
            id: id("s"),
            user: id("u"),
            code: "1".into(),
            amount: 1,
            currency: Currency::EUR,
            terminal: id("t"),
            coupon: None,
            hold_until_ms: None,
            location: None,
        });
        let declined = reply_for(&settle, 200, r#"{"approved":false,"decline_code":"exceeds_limit"}"#);
        assert_eq!(declined.unwrap_err().code, "exceeds_limit");
        let approved =
            reply_for(&settle, 200, r#"{"approved":true,"approval_code":"123456","charged":1,"discount":0}"#);
        assert!(matches!(approved, Ok(Reply::Settled { charged: 1, .. })));
    }
}
