//! The ISO 8583 POS channel: terminals connect over TCP and exchange length-prefixed
//! ISO 8583:1987 ASCII messages (see the module docs for the format).
//!
//! | request | answer | engine command |
//! |---|---|---|
//! | 0100 authorization | 0110 | `SettlePos` with a hold (captured later over HTTP) |
//! | 0200 financial | 0210 | `SettlePos` (debit the user, credit the terminal's merchant) |
//! | 0220 completion | 0230 | `CaptureHold` of a 0100's hold for field 4 (the original: field 90's STAN and field 7, else its own fields 11 and 7) |
//! | 0400 reversal | 0410 | `ReversePos` of the original (field 90's STAN and field 7, else its own fields 11 and 7) |
//! | 0800 network | 0810 | none: echo / sign-on |
//!
//! A settlement is identified by terminal + STAN + transmission date and time (field 7): its id
//! is `iso:<terminal>:<STAN>:<MMDDhhmmss>` ([`super::identity`] has the rules). An identical
//! retransmission of a 0100, 0200 or 0400 gets the original answer (the engine's idempotency;
//! for a 0100, see [`AUTHORIZATION_HOLD_MS`]), the same three fields with another body get 94,
//! and a STAN reused with another field 7 is a new settlement.
//!
//! Terminals with a MAC key must sign (field 64) and get signed answers. Unknown terminals, bad
//! MACs and malformed messages get a response code when the message could be parsed, and a
//! logged close when the stream cannot be trusted; no connection can disturb another. A message
//! must arrive whole within `frame_timeout` of its first byte however its bytes are spread
//! (slowloris), each answer must be taken within `write_timeout` (a terminal that sends but
//! never reads), and a connection idle for `idle_timeout` is closed: each a logged close. On
//! shutdown, idle connections close at once.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kassa_engine::command::{CaptureHold, Command, Outcome, Principal, Reply, SettlePos, Submission};
use kassa_engine::state_machine::HoldState;
use kassa_engine::{Currency, Engine, Id, Rejection, SubmitError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::identity::{STAN_DIGITS, is_transmission_time, reversal_original, settlement_id};
use super::{Iso8583Error, MAC_FIELD, Message, decode, encode, frame, sign, split_frame, verify_mac};

/// How long an authorization hold (0100) lasts at least before it expires unless captured: it
/// expires at the end of the 7th UTC day after the day the 0100 arrived (7 to 8 days later),
/// so that every retransmission of the 0100 on the same UTC day builds the same command, and
/// the engine answers it with the original answer. A retransmission on a later day builds
/// another expiry: the server then takes the expiry of the hold the original placed, and the
/// engine compares again. (An original that was declined placed no hold: its retransmission
/// on a later UTC day is answered 94.)
pub const AUTHORIZATION_HOLD_MS: u64 = 7 * DAY_MS;

const DAY_MS: u64 = 24 * 3_600_000;

/// When a hold placed by a 0100 received at `now_ms` expires: [`AUTHORIZATION_HOLD_MS`] after
/// the UTC midnight that ends the day of `now_ms`.
fn hold_expiry_ms(now_ms: u64) -> u64 {
    (now_ms / DAY_MS + 1) * DAY_MS + AUTHORIZATION_HOLD_MS
}

/// Listener settings.
#[derive(Debug, Clone)]
pub struct IsoConfig {
    /// Most concurrent terminal connections.
    pub max_connections: usize,
    /// Idle time after which a connection is closed.
    pub idle_timeout: Duration,
    /// Time allowed to finish a message once its first byte arrived, however the sender spreads
    /// its bytes (slow senders are cut off).
    pub frame_timeout: Duration,
    /// Time one answer may take to be written (a terminal that stops reading is cut off).
    pub write_timeout: Duration,
}

impl Default for IsoConfig {
    fn default() -> IsoConfig {
        IsoConfig {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// ISO 8583 response codes (field 39) kassa answers with.
pub mod response_code {
    /// Approved.
    pub const APPROVED: &str = "00";
    /// Do not honor (unknown terminal, bad MAC, used code, over the limit, ...).
    pub const DO_NOT_HONOR: &str = "05";
    /// Invalid amount.
    pub const INVALID_AMOUNT: &str = "13";
    /// Invalid user (field 2).
    pub const INVALID_USER: &str = "14";
    /// Format error (a field missing or malformed: field 7, 11, 41, 90...).
    pub const FORMAT_ERROR: &str = "30";
    /// Insufficient funds.
    pub const INSUFFICIENT_FUNDS: &str = "51";
    /// Expired authorization.
    pub const EXPIRED: &str = "54";
    /// Incorrect secure code.
    pub const INCORRECT_CODE: &str = "55";
    /// Too many wrong codes.
    pub const CODE_TRIES_EXCEEDED: &str = "75";
    /// Duplicate transmission (same terminal, STAN and field 7, another body).
    pub const DUPLICATE: &str = "94";
    /// System error (busy, storage).
    pub const SYSTEM_ERROR: &str = "96";
}

use response_code::*;

/// The field 39 code of a rejection.
pub fn code_of(rejection: Rejection) -> &'static str {
    match rejection {
        Rejection::InsufficientFunds => INSUFFICIENT_FUNDS,
        Rejection::Expired => EXPIRED,
        Rejection::IncorrectCode => INCORRECT_CODE,
        Rejection::CodeTriesExceeded => CODE_TRIES_EXCEEDED,
        Rejection::InvalidAmount => INVALID_AMOUNT,
        Rejection::IdReused | Rejection::AlreadyExists => DUPLICATE,
        Rejection::InvalidField | Rejection::InvalidExpiry => FORMAT_ERROR,
        _ => DO_NOT_HONOR,
    }
}

/// What a message's terminal is: its merchant, MAC key and the merchant account's currency.
/// Never changes once the terminal is registered (a registration repeated with another body is
/// refused `already_exists`; merchants and account currencies are fixed too), so it is cached.
struct KnownTerminal {
    merchant: Id,
    mac_key: Option<Vec<u8>>,
    currency: Currency,
}

/// Most terminals cached; beyond it lookups go to the engine each time.
const TERMINALS_CACHED_MAX: usize = 100_000;

/// Registered terminals seen by this listener. Only terminals the engine knows are cached, so
/// an unauthenticated sender cannot grow it.
#[derive(Default)]
pub struct Terminals(dashmap::DashMap<Id, Arc<KnownTerminal>>);

impl Terminals {
    /// The terminal, from the cache or (once) from the engine, without waiting for a group
    /// commit: authentication data, never shown as committed state.
    async fn get(&self, engine: &Engine, terminal: &Id) -> Result<Option<Arc<KnownTerminal>>, SubmitError> {
        if let Some(known) = self.0.get(terminal) {
            return Ok(Some(known.clone()));
        }
        let lookup = terminal.clone();
        let found = engine
            .read_not_durable(move |machine| {
                let terminal = machine.terminal(&lookup)?;
                let merchant = machine.merchant(&terminal.merchant)?;
                Some((terminal.merchant.clone(), terminal.mac_key.clone(), merchant.account.clone()))
            })
            .await?;
        let Some((merchant, mac_key, account)) = found else { return Ok(None) };
        // The merchant's account may live on another partition: its currency is read there.
        let lookup = account.clone();
        let currency =
            engine.read_account(&account, move |machine| machine.account(&lookup).map(|a| a.currency)).await?;
        let known = currency.map(|currency| Arc::new(KnownTerminal { merchant, mac_key, currency }));
        if let Some(known) = &known
            && self.0.len() < TERMINALS_CACHED_MAX
        {
            self.0.insert(terminal.clone(), known.clone());
        }
        Ok(known)
    }
}

/// Accepts terminals until `shutdown` turns true (or its sender is dropped); then stops
/// accepting, closes every idle connection at once, and returns once every connection has
/// answered the messages it received whole and finished the one it had started (within
/// `frame_timeout` of that message's first byte).
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, config: IsoConfig, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    let terminals = Arc::new(Terminals::default());
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "ISO 8583: connection limit reached, closing");
                    continue; // Dropping the stream closes it.
                };
                let (engine, config, shutdown) = (engine.clone(), config.clone(), shutdown.clone());
                let terminals = terminals.clone();
                // Every log line of the connection carries its id.
                let span = tracing::info_span!("iso8583", connection_id = %crate::http::observe::request_id(None));
                let connection = async move {
                    if let Err(reason) = connection(stream, &engine, &terminals, &config, shutdown).await {
                        tracing::info!(%peer, %reason, "ISO 8583: connection closed");
                    }
                    drop(permit);
                };
                connections.spawn(tracing::Instrument::instrument(connection, span));
            }
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn connection(
    mut stream: TcpStream,
    engine: &Engine,
    terminals: &Terminals,
    config: &IsoConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let mut buffer: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    // When the message being received must be complete: `frame_timeout` after its first byte
    // arrived, however the sender spreads its bytes (slowloris); `None` while idle between
    // messages.
    let mut message_deadline: Option<Instant> = None;
    loop {
        // Complete messages already buffered are answered first, even once shutdown started.
        if let Some((consumed, body)) = split_frame(&buffer).map_err(|error| format!("bad frame: {error}"))? {
            let answer = answer(engine, terminals, body).await;
            buffer.drain(..consumed);
            // The next message, if it has started, gets its own full time from now.
            message_deadline = (!buffer.is_empty()).then(|| Instant::now() + config.frame_timeout);
            if let Some(answer) = answer {
                let framed = frame(&answer).map_err(|error| error.to_string())?;
                tokio::time::timeout(config.write_timeout, stream.write_all(&framed))
                    .await
                    .map_err(|_| "answer not taken in time".to_string())?
                    .map_err(|error| error.to_string())?;
            }
            continue;
        }
        let read = match message_deadline {
            // Idle between messages: shutdown closes the connection at once.
            None => tokio::select! {
                biased;
                _ = shutdown.wait_for(|&stop| stop) => return Ok(()),
                read = tokio::time::timeout(config.idle_timeout, stream.read(&mut chunk)) => read.map_err(|_| "idle")?,
            },
            // A message has started: it gets the rest of its time, shutdown or not.
            Some(deadline) => tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk))
                .await
                .map_err(|_| "message not completed in time")?,
        }
        .map_err(|error| error.to_string())?;
        if read == 0 {
            return Ok(());
        }
        if buffer.is_empty() {
            message_deadline = Some(Instant::now() + config.frame_timeout);
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// The answer to one message body (`None`: the message is not even an ISO 8583 message with an
/// MTI, and nothing sensible can be answered; it is logged and dropped).
pub async fn answer(engine: &Engine, terminals: &Terminals, body: &[u8]) -> Option<Vec<u8>> {
    let request = match decode(body) {
        Ok(request) => request,
        Err(error) => {
            tracing::info!(%error, "ISO 8583: malformed message");
            metrics::counter!("kassa_iso8583_malformed_total").increment(1);
            return format_error_reply(body, &error);
        }
    };
    let mut response = respond(engine, terminals, &request, body).await;
    let encoded = encode(&response).ok()?;
    // Sign the answer for terminals that sign.
    if request.contains(MAC_FIELD)
        && let Some(terminal) = terminal_id(&request)
        && let Ok(Some(known)) = terminals.get(engine, &terminal).await
        && let Some(key) = &known.mac_key
    {
        sign(key, &mut response).ok()?;
        return encode(&response).ok();
    }
    Some(encoded)
}

/// A 30 (format error) answer built from whatever could be read: the MTI and, when readable,
/// nothing else.
fn format_error_reply(body: &[u8], error: &Iso8583Error) -> Option<Vec<u8>> {
    let mti = std::str::from_utf8(body.get(..4)?).ok()?;
    let response_mti = response_mti(mti)?;
    tracing::debug!(%error, mti, "answering a malformed message with 30");
    let mut response = Message::new(&response_mti).ok()?;
    response.set(39, FORMAT_ERROR);
    encode(&response).ok()
}

fn response_mti(mti: &str) -> Option<String> {
    let number: u16 = mti.parse().ok()?;
    // 0100 -> 0110, 0200 -> 0210, ...: the function digit becomes "response".
    if !(number / 10).is_multiple_of(2) || !number.is_multiple_of(10) {
        return None;
    }
    Some(format!("{:04}", number + 10))
}

fn terminal_id(request: &Message) -> Option<Id> {
    Id::new(request.get_str(41)?.trim_end()).ok()
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

/// The response to a parsed request (fields echoed, 38 and 39 set).
async fn respond(engine: &Engine, terminals: &Terminals, request: &Message, body: &[u8]) -> Message {
    let mti = request.mti().to_string();
    let Some(response_mti) = response_mti(&mti) else {
        let mut response = Message::new("0810").expect("valid MTI");
        response.set(39, FORMAT_ERROR);
        log_refusal(request, "0810", FORMAT_ERROR);
        return response;
    };
    let mut response = Message::new(&response_mti).expect("a response MTI is valid");
    for field in [2, 3, 4, 7, 11, 12, 13, 37, 41, 42, 49] {
        if let Some(value) = request.get(field) {
            response.set(field, value.to_vec());
        }
    }
    if !response.contains(37)
        && let Some(stan) = request.get_str(11)
    {
        response.set(37, format!("{:0>12}", stan));
    }
    let code = match mti.as_str() {
        "0800" => APPROVED.to_string(),
        "0100" | "0200" | "0220" | "0400" => match process(engine, terminals, request, body, &mti).await {
            Ok(approval) => {
                if let Some(approval) = approval {
                    response.set(38, approval);
                }
                APPROVED.to_string()
            }
            Err(code) => code.to_string(),
        },
        _ => FORMAT_ERROR.to_string(),
    };
    log_refusal(request, &response_mti, &code);
    metrics::counter!("kassa_iso8583_responses_total", "mti" => response_mti.clone(), "code" => code.clone())
        .increment(1);
    response.set(39, code);
    response
}

/// A 0220 completion of a 0100 authorization: captures the 0100's hold (its id is the 0100's
/// settlement id) for field 4, the final amount (at most the authorized one; the rest is
/// released). A repeated advice of a completion that applied answers 00 again.
async fn complete(engine: &Engine, terminal: Id, request: &Message) -> Result<Option<String>, &'static str> {
    let (stan, transmitted) = reversal_original(request).ok_or(FORMAT_ERROR)?;
    let hold = settlement_id(terminal.as_str(), stan, transmitted).ok_or(FORMAT_ERROR)?;
    let amount: u64 = request.get_str(4).and_then(|amount| amount.parse().ok()).ok_or(INVALID_AMOUNT)?;
    let capture = CaptureHold { hold: hold.clone(), amount };
    match engine.submit(Submission::new(Principal::Terminal(terminal), Command::CaptureHold(capture))).await {
        Ok(Outcome::Applied(_)) => Ok(None),
        Ok(Outcome::Rejected(Rejection::HoldAlreadyResolved)) => {
            let state = read_hold(engine, &hold, |hold| hold.state).await;
            match state.map_err(system_error)? {
                Some(HoldState::Captured(captured)) if captured == amount => Ok(None),
                _ => Err(code_of(Rejection::HoldAlreadyResolved)),
            }
        }
        Ok(Outcome::Rejected(Rejection::HoldNotFound)) => Err(DO_NOT_HONOR),
        Ok(refused) => Err(code_of(refused.rejection().expect("not applied"))),
        Err(error) => Err(system_error(error)),
    }
}

/// Logs an answer other than approved (96 is logged where the engine refused). Secure-code
/// failures and duplicates are warnings: they are what a brute force or a replay looks like.
/// Field 2 (the user) is not logged.
fn log_refusal(request: &Message, response_mti: &str, code: &str) {
    let (terminal, stan) = (request.get_str(41).unwrap_or("").trim_end(), request.get_str(11).unwrap_or(""));
    match code {
        APPROVED | SYSTEM_ERROR => {}
        INCORRECT_CODE | CODE_TRIES_EXCEEDED | DUPLICATE => {
            tracing::warn!(terminal, stan, mti = response_mti, code, "ISO 8583: refused");
        }
        _ => tracing::info!(terminal, stan, mti = response_mti, code, "ISO 8583: declined"),
    }
}

/// Runs a 0100/0200/0220/0400 against the engine; `Ok(approval code)` or `Err(field 39 code)`.
async fn process(
    engine: &Engine,
    terminals: &Terminals,
    request: &Message,
    body: &[u8],
    mti: &str,
) -> Result<Option<String>, &'static str> {
    let stan = request.get_str(11).filter(|stan| stan.len() == STAN_DIGITS).ok_or(FORMAT_ERROR)?;
    let transmitted = request.get_str(7).filter(|time| is_transmission_time(time)).ok_or(FORMAT_ERROR)?;
    let terminal = terminal_id(request).ok_or(FORMAT_ERROR)?;
    let known = terminals.get(engine, &terminal).await.map_err(|_| SYSTEM_ERROR)?;
    let Some(known) = known else {
        tracing::info!(%terminal, "ISO 8583: unknown terminal");
        return Err(DO_NOT_HONOR);
    };
    let (merchant, merchant_currency) = (&known.merchant, known.currency);
    if let Some(key) = &known.mac_key
        && !verify_mac(key, body, request)
    {
        tracing::warn!(%terminal, stan, "ISO 8583: missing or bad MAC");
        metrics::counter!("kassa_iso8583_bad_mac_total").increment(1);
        return Err(DO_NOT_HONOR);
    }
    if let Some(merchant_field) = request.get_str(42)
        && merchant_field.trim_end() != merchant.as_str()
    {
        return Err(DO_NOT_HONOR);
    }
    if mti == "0220" {
        return complete(engine, terminal, request).await;
    }
    if mti == "0400" {
        let (stan, transmitted) = reversal_original(request).ok_or(FORMAT_ERROR)?;
        let settlement = settlement_id(terminal.as_str(), stan, transmitted).ok_or(FORMAT_ERROR)?;
        let reverse = Submission::new(Principal::Terminal(terminal), Command::ReversePos { settlement });
        return match engine.submit(reverse).await {
            Ok(Outcome::Applied(_)) => Ok(None),
            Ok(Outcome::Rejected(Rejection::SettlementNotFound)) => Err(DO_NOT_HONOR),
            Ok(Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. }) => Err(code_of(rejection)),
            Err(error) => Err(system_error(error)),
        };
    }
    let user = request.get_str(2).and_then(|user| Id::new(user).ok()).ok_or(INVALID_USER)?;
    let amount: u64 = request.get_str(4).and_then(|amount| amount.parse().ok()).ok_or(INVALID_AMOUNT)?;
    let code = String::from_utf8(request.get(48).ok_or(INCORRECT_CODE)?.to_vec()).map_err(|_| FORMAT_ERROR)?;
    let currency = match request.get_str(49) {
        None => merchant_currency,
        Some(numeric) => {
            numeric.parse().ok().and_then(|numeric| Currency::from_numeric(numeric).ok()).ok_or(FORMAT_ERROR)?
        }
    };
    let principal = Principal::Terminal(terminal.clone());
    let settle = SettlePos {
        id: settlement_id(terminal.as_str(), stan, transmitted).ok_or(FORMAT_ERROR)?,
        user,
        code,
        amount,
        currency,
        terminal,
        coupon: None,
        hold_until_ms: (mti == "0100").then(|| hold_expiry_ms(now_ms())),
        location: None,
    };
    match submit_settlement(engine, principal, settle).await.map_err(system_error)? {
        Outcome::Applied(Reply::Settled { approval_code, .. }) => Ok(Some(approval_code)),
        Outcome::Applied(other) => unreachable!("a settlement answers Settled, not {other:?}"),
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(code_of(rejection)),
    }
}

/// Submits a settlement. For a 0100 whose id the engine finds taken with another body, the
/// difference may be only the hold's expiry (a retransmission on a later UTC day, see
/// [`AUTHORIZATION_HOLD_MS`]): the command is submitted again with the expiry of the hold the
/// original placed, and the engine compares every field again: an identical retransmission gets
/// the original outcome, anything else still `IdReused` (94).
async fn submit_settlement(engine: &Engine, principal: Principal, settle: SettlePos) -> Result<Outcome, SubmitError> {
    let retry = settle.hold_until_ms.is_some().then(|| settle.clone());
    let outcome = engine.submit(Submission::new(principal.clone(), Command::SettlePos(settle))).await?;
    let Some(mut retry) = retry.filter(|_| outcome == Outcome::Rejected(Rejection::IdReused)) else {
        return Ok(outcome);
    };
    let id = retry.id.clone();
    let placed = read_hold(engine, &id, |hold| hold.expires_at_ms).await?;
    if placed.is_none() || placed == retry.hold_until_ms {
        return Ok(outcome);
    }
    retry.hold_until_ms = placed;
    engine.submit(Submission::new(principal, Command::SettlePos(retry))).await
}

/// What `read` takes from hold `id`, where it lives (with its sale, on its user's partition).
async fn read_hold<R: Send + 'static>(
    engine: &Engine,
    id: &Id,
    read: impl FnOnce(&kassa_engine::state_machine::Hold) -> R + Send + 'static,
) -> Result<Option<R>, SubmitError> {
    let partition = engine.hold_partition(id).map_err(|_| SubmitError::StorageFailed)?;
    let id = id.clone();
    engine.read_partition(partition, move |machine| machine.hold(&id).map(read)).await
}

fn system_error(error: SubmitError) -> &'static str {
    tracing::warn!(%error, "ISO 8583: engine unavailable");
    SYSTEM_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_mtis() {
        assert_eq!(response_mti("0100").as_deref(), Some("0110"));
        assert_eq!(response_mti("0200").as_deref(), Some("0210"));
        assert_eq!(response_mti("0220").as_deref(), Some("0230"));
        assert_eq!(response_mti("0400").as_deref(), Some("0410"));
        assert_eq!(response_mti("0800").as_deref(), Some("0810"));
        assert_eq!(response_mti("0210"), None);
        assert_eq!(response_mti("0201"), None);
        assert_eq!(response_mti("abcd"), None);
    }

    #[test]
    fn holds_expire_at_a_utc_midnight_7_to_8_days_on() {
        let midnight = 20_000 * DAY_MS;
        assert_eq!(hold_expiry_ms(midnight), midnight + 8 * DAY_MS);
        assert_eq!(hold_expiry_ms(midnight + DAY_MS - 1), midnight + 8 * DAY_MS);
        assert_eq!(hold_expiry_ms(midnight + DAY_MS), midnight + 9 * DAY_MS);
        assert!(hold_expiry_ms(midnight) - midnight <= kassa_engine::constants::HOLD_TTL_MS_MAX);
    }

    #[test]
    fn rejections_map_to_response_codes() {
        assert_eq!(code_of(Rejection::InsufficientFunds), "51");
        assert_eq!(code_of(Rejection::IncorrectCode), "55");
        assert_eq!(code_of(Rejection::CodeTriesExceeded), "75");
        assert_eq!(code_of(Rejection::Expired), "54");
        assert_eq!(code_of(Rejection::IdReused), "94");
        assert_eq!(code_of(Rejection::CodeAlreadyUsed), "05");
    }
}
