//! The ISO 8583 POS channel of `kassa serve`: a terminal's connection that sends a settlement
//! as a 0200 (or, with `hold_until_ms`, an authorization hold as a 0100) and a reversal as a
//! 0400, in the framing of `adapters/src/iso8583` (2-byte big-endian length, ASCII body).
//! Everything ISO 8583 does not carry (authorizations, captures, bills, ...) goes over HTTP.

use std::borrow::Cow;
use std::net::SocketAddr;

use kassa_adapters::iso8583::identity::is_transmission_time;
use kassa_adapters::iso8583::{MESSAGE_BYTES_MAX, Message, decode, encode, frame};
use kassa_engine::command::{Command, SettlePos};
use kassa_engine::{Id, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::channel::{Answer, Failure, REQUEST_TIMEOUT};
use crate::http::HttpChannel;

/// The settlement id `kassa serve` gives a POS message: `iso:<terminal>:<STAN>:<field 7>`
/// (terminal + STAN + transmission date and time, `kassa_adapters::iso8583::identity`).
/// `transmitted` is field 7, `MMDDhhmmss`.
pub fn settlement_id(terminal: &str, stan: u32, transmitted: &str) -> Id {
    Id::new(&format!("iso:{terminal}:{stan:06}:{transmitted}")).expect("a valid id")
}

/// The STAN and field 7 of a settlement id made by [`settlement_id`] for `terminal`.
pub fn stan_of<'a>(settlement: &'a Id, terminal: &str) -> Option<(u32, &'a str)> {
    let rest = settlement.as_str().strip_prefix("iso:")?.strip_prefix(terminal)?.strip_prefix(':')?;
    let (stan, transmitted) = rest.split_once(':')?;
    if stan.len() != 6 || !stan.bytes().all(|byte| byte.is_ascii_digit()) || !is_transmission_time(transmitted) {
        return None;
    }
    Some((stan.parse().ok()?, transmitted))
}

/// The 0200 (purchase) or 0100 (authorization hold) for a settlement, sent at `transmitted`
/// (field 7).
pub fn settlement_message(settle: &SettlePos, stan: u32, transmitted: &str) -> Message {
    let mti = if settle.hold_until_ms.is_some() { "0100" } else { "0200" };
    Message::new(mti)
        .expect("a valid MTI")
        .with(2, settle.user.as_str())
        .with(3, "000000")
        .with(4, format!("{:012}", settle.amount))
        .with(7, transmitted)
        .with(11, format!("{stan:06}"))
        .with(41, settle.terminal.as_str())
        .with(48, settle.code.as_str())
        .with(49, format!("{:03}", settle.currency.numeric()))
}

/// The 0400 reversing the settlement with STAN `original` sent at `transmitted` (field 90 names
/// both; the reversal carries them in fields 11 and 7 too).
pub fn reversal_message(terminal: &str, original: u32, transmitted: &str) -> Message {
    Message::new("0400")
        .expect("a valid MTI")
        .with(3, "000000")
        .with(7, transmitted)
        .with(11, format!("{original:06}"))
        .with(41, terminal)
        .with(90, format!("0200{original:06}{transmitted}{:022}", 0))
}

/// The result code for field 39: `approved`, or the rejection it stands for.
pub fn response_code_name(code: &str) -> Cow<'static, str> {
    Cow::Borrowed(match code {
        "00" => crate::report::APPROVED,
        "05" => "do_not_honor",
        "13" => "invalid_amount",
        "14" => "invalid_user",
        "30" => "format_error",
        "51" => "insufficient_funds",
        "54" => "expired",
        "55" => "incorrect_code",
        "75" => "code_tries_exceeded",
        "94" => "duplicate",
        "96" => "system_error",
        other => {
            let printable = other.len() <= 2 && other.bytes().all(|byte| byte.is_ascii_alphanumeric());
            return Cow::Owned(if printable { format!("iso_{other}") } else { "iso_invalid".into() });
        }
    })
}

/// One terminal's connection.
pub struct IsoConnection {
    stream: TcpStream,
}

impl IsoConnection {
    /// Connects.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<IsoConnection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(IsoConnection { stream })
    }

    /// Whether the server closed the connection (idle timeout) or sent something unasked.
    pub fn is_stale(&self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.try_read(&mut byte) {
            Ok(_) => true,
            Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
        }
    }

    /// Sends a message and reads the answer.
    pub async fn round_trip(&mut self, request: &Message) -> Result<Message, String> {
        let body = encode(request).map_err(|error| error.to_string())?;
        let framed = frame(&body).map_err(|error| error.to_string())?;
        self.stream.write_all(&framed).await.map_err(|error| error.to_string())?;
        let mut length = [0u8; 2];
        self.stream.read_exact(&mut length).await.map_err(|error| error.to_string())?;
        let length = usize::from(u16::from_be_bytes(length));
        if length == 0 || length > MESSAGE_BYTES_MAX {
            return Err(format!("bad frame length {length}"));
        }
        let mut answer = vec![0u8; length];
        self.stream.read_exact(&mut answer).await.map_err(|error| error.to_string())?;
        decode(&answer).map_err(|error| error.to_string())
    }
}

/// The `iso8583` target's channel: this worker's terminal over ISO 8583, plus HTTP for the rest.
pub struct IsoChannel {
    addr: SocketAddr,
    terminal: String,
    iso: Option<IsoConnection>,
    http: HttpChannel,
}

impl IsoChannel {
    /// A channel for `terminal` (ISO 8583 at `addr`) and `http`.
    pub fn new(addr: SocketAddr, terminal: &Id, http: HttpChannel) -> IsoChannel {
        IsoChannel { addr, terminal: terminal.to_string(), iso: None, http }
    }

    /// Connects both now.
    pub async fn connect(&mut self) -> Result<(), String> {
        self.http.connect().await?;
        let iso = IsoConnection::connect(self.addr)
            .await
            .map_err(|error| format!("cannot connect to ISO 8583 {}: {error}", self.addr))?;
        self.iso = Some(iso);
        Ok(())
    }

    async fn round_trip(&mut self, request: Message) -> Result<Message, Failure> {
        // A connection the server has closed (idle timeout) is replaced before it is used.
        if self.iso.as_ref().is_none_or(IsoConnection::is_stale) {
            let iso = IsoConnection::connect(self.addr).await.map_err(|_| Failure::fatal("connect_error"))?;
            self.iso = Some(iso);
        }
        let iso = self.iso.as_mut().expect("connected above");
        match tokio::time::timeout(REQUEST_TIMEOUT, iso.round_trip(&request)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => {
                self.iso = None;
                Err(Failure::new("connection_error"))
            }
            Err(_) => {
                self.iso = None;
                Err(Failure::new("timeout"))
            }
        }
    }

    /// Runs a command: POS settlements of this terminal without a coupon (ISO 8583 has no
    /// coupon field) and reversals of them over ISO 8583, everything else over HTTP.
    pub async fn execute(&mut self, command: &Command, now_ms: u64) -> Answer {
        match command {
            Command::SettlePos(settle) if settle.coupon.is_none() && settle.terminal.as_str() == self.terminal => {
                let Some((stan, transmitted)) = stan_of(&settle.id, &self.terminal) else {
                    return self.http.execute(command, now_ms).await;
                };
                let answer = self.round_trip(settlement_message(settle, stan, transmitted)).await?;
                match answer.get_str(39) {
                    Some("00") => Ok(Reply::Settled {
                        approval_code: answer.get_str(38).unwrap_or_default().to_string(),
                        charged: settle.amount,
                        discount: 0,
                    }),
                    Some(code) => Err(Failure::code(response_code_name(code))),
                    None => Err(Failure::new("bad_response")),
                }
            }
            Command::ReversePos { settlement } if stan_of(settlement, &self.terminal).is_some() => {
                let (stan, transmitted) = stan_of(settlement, &self.terminal).expect("checked");
                let answer = self.round_trip(reversal_message(&self.terminal, stan, transmitted)).await?;
                match answer.get_str(39) {
                    Some("00") => Ok(Reply::Done),
                    Some(code) => Err(Failure::code(response_code_name(code))),
                    None => Err(Failure::new("bad_response")),
                }
            }
            _ => self.http.execute(command, now_ms).await,
        }
    }

    /// The HTTP side, for queries.
    pub fn http(&mut self) -> &mut HttpChannel {
        &mut self.http
    }
}

#[cfg(test)]
mod tests {
    use kassa_engine::Currency;

    use super::*;

    #[test]
    fn settlement_ids_carry_the_stan_and_field_7() {
        let id = settlement_id("00012345", 42, "1204143830");
        assert_eq!(id.as_str(), "iso:00012345:000042:1204143830");
        assert_eq!(stan_of(&id, "00012345"), Some((42, "1204143830")));
        assert_eq!(stan_of(&id, "00012346"), None, "another terminal's");
        assert_eq!(stan_of(&Id::new("iso:00012345:000042").unwrap(), "00012345"), None, "no field 7");
        assert_eq!(stan_of(&Id::new("iso:00012345:42:1204143830").unwrap(), "00012345"), None);
        assert_eq!(stan_of(&Id::new("iso:00012345:000042:1304143830").unwrap(), "00012345"), None);
        assert_eq!(stan_of(&Id::new("lg1-s1").unwrap(), "00012345"), None);
    }

    #[test]
    fn messages_carry_the_settlement() {
        let settle = SettlePos {
            id: settlement_id("00000007", 3, "1204143830"),
            user: Id::new("9000010000000001").unwrap(),
            code: "12345678".into(),
            amount: 250,
            currency: Currency::EUR,
            terminal: Id::new("00000007").unwrap(),
            coupon: None,
            hold_until_ms: None,
            location: None,
        };
        let message = settlement_message(&settle, 3, "1204143830");
        assert_eq!(message.mti(), "0200");
        assert_eq!(message.get_str(4), Some("000000000250"));
        assert_eq!(message.get_str(7), Some("1204143830"));
        assert_eq!(message.get_str(11), Some("000003"));
        assert_eq!(message.get_str(49), Some("978"));
        let decoded = decode(&encode(&message).unwrap()).unwrap();
        assert_eq!(decoded.get_str(48), Some("12345678"));
        let hold = settlement_message(&SettlePos { hold_until_ms: Some(1), ..settle }, 3, "1204143830");
        assert_eq!(hold.mti(), "0100");
        let reversal = reversal_message("00000007", 3, "1204143830");
        assert_eq!(reversal.get_str(90).map(str::len), Some(42));
        let original = kassa_adapters::iso8583::identity::reversal_original(&reversal);
        assert_eq!(original, Some(("000003", "1204143830")), "the server finds the original");
        assert!(encode(&reversal).is_ok());
    }

    #[test]
    fn response_codes_have_names() {
        assert_eq!(response_code_name("00"), "approved");
        assert_eq!(response_code_name("51"), "insufficient_funds");
        assert_eq!(response_code_name("Z9"), "iso_Z9");
        assert_eq!(response_code_name("\u{1b}[2J"), "iso_invalid", "no terminal escapes from the network");
    }
}
