//! The workload's [`Channel`]s to a running `kassa serve`: its TCP binary protocol (the adapters'
//! pipelining client) and its HTTP/JSON API (a minimal keep-alive HTTP/1.1 client).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use kassa_adapters::tcp::client::Client;
use kassa_engine::command::Command;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::workload::{Answer, Channel};

/// Wall-clock milliseconds: `kassa serve` runs on the wall clock.
fn wall_clock_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

/// Commands over the TCP binary protocol.
pub struct TcpChannel(pub Client);

impl TcpChannel {
    /// Connects and authenticates with an admin key.
    pub async fn connect(addr: SocketAddr, api_key: &str) -> Option<TcpChannel> {
        Client::connect(addr, api_key).await.ok().map(TcpChannel)
    }
}

impl Channel for TcpChannel {
    async fn submit(&mut self, command: Command) -> Option<Answer> {
        self.0.submit(command).await.ok().map(|outcome| Answer::from_outcome(&outcome))
    }

    async fn now_ms(&mut self) -> u64 {
        wall_clock_ms()
    }

    fn alive(&self) -> bool {
        !self.0.is_closed()
    }
}

/// Commands as the HTTP/JSON API's requests, on one keep-alive connection.
pub struct HttpChannel {
    stream: BufReader<TcpStream>,
    api_key: String,
    broken: bool,
}

impl HttpChannel {
    /// Connects (the key goes in every request's `Authorization: Bearer` header).
    pub async fn connect(addr: SocketAddr, api_key: &str) -> Option<HttpChannel> {
        let stream = TcpStream::connect(addr).await.ok()?;
        stream.set_nodelay(true).ok()?;
        Some(HttpChannel { stream: BufReader::new(stream), api_key: api_key.to_string(), broken: false })
    }

    /// One request; `(status, body)`, or `None` when the connection failed (it is then dead).
    pub async fn request(&mut self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let answer = self.exchange(method, path, body).await;
        self.broken |= answer.is_none();
        answer
    }

    async fn exchange(&mut self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: kassa\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.api_key,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await.ok()?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await.ok()?;
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok()?;
            }
        }
        let mut bytes = vec![0; length];
        self.stream.read_exact(&mut bytes).await.ok()?;
        Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// The request that carries `command`; `None` for commands the workload does not send.
    fn route(command: &Command) -> Option<(String, Option<Value>)> {
        let route = match command {
            Command::Transfer(transfer) => (
                "/v1/transfers".to_string(),
                Some(json!({"id": transfer.id.as_str(), "from": transfer.from.as_str(), "to": transfer.to.as_str(),
                            "amount": transfer.amount, "currency": transfer.currency.alpha()})),
            ),
            Command::TransferBatch(batch) => (
                "/v1/transfers/batch".to_string(),
                Some(json!({"atomic": batch.atomic, "transfers": batch.transfers.iter()
                    .map(|transfer| json!({"id": transfer.id.as_str(), "from": transfer.from.as_str(),
                        "to": transfer.to.as_str(), "amount": transfer.amount, "currency": transfer.currency.alpha()}))
                    .collect::<Vec<_>>()})),
            ),
            Command::RegisterMerchant(register) => (
                "/v1/merchants".to_string(),
                Some(json!({"id": register.merchant.as_str(), "account": register.account.as_str()})),
            ),
            Command::PlaceHold(place) => (
                "/v1/holds".to_string(),
                Some(json!({"id": place.id.as_str(), "from": place.from.as_str(), "to": place.to.as_str(),
                            "amount": place.amount, "currency": place.currency.alpha(), "expires_in_s": 600})),
            ),
            Command::CaptureHold(capture) => {
                (format!("/v1/holds/{}/capture", capture.hold), Some(json!({"amount": capture.amount})))
            }
            Command::Authorize(authorize) => (
                "/v1/authorizations".to_string(),
                Some(json!({"id": authorize.id.as_str(), "user": authorize.user.as_str(),
                            "account": authorize.account.as_str(), "limit": authorize.limit, "expires_in_s": 600})),
            ),
            Command::SettlePos(settle) => (
                "/v1/pos/settlements".to_string(),
                Some(json!({"id": settle.id.as_str(), "user": settle.user.as_str(), "code": settle.code,
                            "amount": settle.amount, "terminal": settle.terminal.as_str()})),
            ),
            Command::OpenBill(open) => (
                "/v1/bills".to_string(),
                Some(json!({"id": open.bill.as_str(), "user": open.user.as_str(), "account": open.account.as_str(),
                            "merchant": open.merchant.as_str(), "expires_in_s": 600})),
            ),
            Command::AddBillItem(add) => (
                format!("/v1/bills/{}/items", add.bill),
                Some(json!({"terminal": add.terminal.as_str(), "item_ref": add.item_ref, "quantity": add.quantity,
                            "unit_amount": add.unit_amount})),
            ),
            Command::SubmitBill(submit) => (format!("/v1/bills/{}/submit", submit.bill), None),
            Command::ConfirmBill(confirm) => {
                (format!("/v1/bills/{}/confirm", confirm.bill), Some(json!({"challenge": confirm.challenge})))
            }
            Command::RequestSplit(request) => (
                "/v1/splits".to_string(),
                Some(json!({"id": request.split.as_str(), "requester": request.requester.as_str(),
                            "requester_account": request.requester_account.as_str(), "total": request.total,
                            "currency": request.currency.alpha(),
                            "members": request.members.iter()
                                .map(|member| json!({"user": member.user.as_str(), "account": member.account.as_str()}))
                                .collect::<Vec<_>>(),
                            "expires_in_s": 600})),
            ),
            Command::PaySplitShare(pay) => {
                (format!("/v1/splits/{}/pay", pay.split), Some(json!({"member": pay.member.as_str()})))
            }
            Command::RefundSplit { split } => (format!("/v1/splits/{split}/refund"), None),
            _ => return None,
        };
        Some(route)
    }
}

impl Channel for HttpChannel {
    async fn submit(&mut self, command: Command) -> Option<Answer> {
        let (path, body) = HttpChannel::route(&command)?;
        let (status, reply) = self.request("POST", &path, body.as_ref()).await?;
        let text = |field: &str| reply.get(field).and_then(Value::as_str).map(str::to_string);
        match status {
            200 | 201 => match command {
                // A declined purchase is a 200 with `approved: false` and the decline code.
                Command::SettlePos(_) if reply.get("approved") != Some(&Value::Bool(true)) => {
                    Some(Answer::Rejected(text("decline_code")?))
                }
                Command::Authorize(_) => Some(Answer::Applied(Some(text("code")?))),
                Command::SubmitBill(_) => Some(Answer::Applied(Some(text("challenge")?))),
                Command::TransferBatch(batch) if !batch.atomic => {
                    let results = reply.get("results")?.as_array()?;
                    let leg = |result: &Value| match result.get("status").and_then(Value::as_str) {
                        Some("rejected") => result["error"]["code"].as_str().map(|code| format!("R:{code}")),
                        _ => Some("A".to_string()),
                    };
                    Some(Answer::Legs(results.iter().map(leg).collect::<Option<Vec<_>>>()?))
                }
                _ => Some(Answer::Applied(None)),
            },
            // Business rejections carry the engine's code; anything else (busy, auth, a killed
            // server) leaves the command's fate unknown.
            403 | 404 | 409 | 422 => {
                let code = reply.get("error")?.get("code")?.as_str()?;
                (code != "forbidden").then(|| Answer::Rejected(code.to_string()))
            }
            _ => None,
        }
    }

    async fn now_ms(&mut self) -> u64 {
        wall_clock_ms()
    }

    fn alive(&self) -> bool {
        !self.broken
    }

    fn pre_authorizes(&self) -> bool {
        false // The HTTP API's sales are charged at once.
    }
}
