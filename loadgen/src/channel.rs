//! How a worker reaches kassa: one [`Channel`] per worker, running engine [`Command`]s in
//! process, over the TCP binary protocol, over HTTP, or over ISO 8583 + HTTP. The scenarios are
//! written once, in commands and replies; each channel translates.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kassa_adapters::tcp::{Client, ClientError, SerialClient};
use kassa_engine::{Command, Engine, Outcome, Reply, SubmitError};

use crate::http::HttpChannel;
use crate::iso8583::IsoChannel;
use crate::report::Code;
use kassa_engine::command::Submission;

/// Longest wait for one answer from a server before the request counts as `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command got no `Applied` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The result code: a rejection (`insufficient_funds`) or a transport answer (`busy`,
    /// `connection_error`, `timeout`, `http_500`, ...).
    pub code: Code,
    /// The channel cannot go on (no connection could be made, the engine stopped): its worker
    /// stops.
    pub fatal: bool,
}

impl Failure {
    /// A failure the worker can go on after.
    pub fn new(code: &'static str) -> Failure {
        Failure { code: Cow::Borrowed(code), fatal: false }
    }

    /// A failure with a computed code.
    pub fn code(code: Code) -> Failure {
        Failure { code, fatal: false }
    }

    /// A failure that stops the worker.
    pub fn fatal(code: &'static str) -> Failure {
        Failure { code: Cow::Borrowed(code), fatal: true }
    }
}

/// A command's answer.
pub type Answer = Result<Reply, Failure>;

/// Milliseconds since the Unix epoch (expiries are absolute times in commands).
pub fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// The result of an engine outcome.
pub fn outcome_answer(outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Applied(reply) => Ok(reply),
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(Failure::new(rejection.code())),
    }
}

/// The failure of an embedded submission.
pub fn submit_failure(error: SubmitError) -> Failure {
    match error {
        SubmitError::Busy => Failure::new("busy"),
        SubmitError::InvalidBatch => Failure::new("invalid_batch"),
        SubmitError::NotOwner { .. } => Failure::new("not_owner"),
        SubmitError::ShuttingDown => Failure::fatal("shutting_down"),
        SubmitError::StorageFailed => Failure::fatal("storage_failed"),
    }
}

/// The failure of a TCP client request.
pub fn client_failure(error: &ClientError) -> Failure {
    match error {
        ClientError::Server { code, .. } => Failure::new(code.as_str()),
        ClientError::Io(_) | ClientError::Closed => Failure::fatal("connection_error"),
        ClientError::Timeout => Failure::fatal("timeout"),
        ClientError::FrameTooLarge(_) => Failure::new("frame_too_large"),
        ClientError::Protocol(_) => Failure::fatal("protocol_error"),
    }
}

/// One worker's way in.
pub enum Channel {
    /// The engine in this process.
    Embedded(Arc<Engine>),
    /// A TCP binary-protocol connection (shared by the `depth` workers of one connection).
    Tcp(Arc<Client>),
    /// A TCP binary-protocol connection of its own, one request at a time (depth 1).
    TcpSerial(Box<SerialClient>),
    /// HTTP only.
    Http(HttpChannel),
    /// ISO 8583 for this worker's terminal, HTTP for the rest.
    Iso(IsoChannel),
}

impl Channel {
    /// Runs one command.
    pub async fn execute(&mut self, command: Command) -> Answer {
        match self {
            Channel::Embedded(engine) => match engine.submit(Submission::admin(command)).await {
                Ok(outcome) => outcome_answer(outcome),
                Err(error) => Err(submit_failure(error)),
            },
            Channel::Tcp(client) => match tokio::time::timeout(REQUEST_TIMEOUT, client.submit(command)).await {
                Ok(Ok(outcome)) => outcome_answer(outcome),
                Ok(Err(error)) => Err(client_failure(&error)),
                Err(_) => Err(Failure::new("timeout")),
            },
            Channel::TcpSerial(client) => match tokio::time::timeout(REQUEST_TIMEOUT, client.submit(command)).await {
                Ok(Ok(outcome)) => outcome_answer(outcome),
                Ok(Err(error)) => Err(client_failure(&error)),
                // The stream may hold half an answer: the client closed itself.
                Err(_) => Err(Failure::fatal("timeout")),
            },
            Channel::Http(http) => http.execute(&command, now_ms()).await,
            Channel::Iso(iso) => iso.execute(&command, now_ms()).await,
        }
    }

    /// Runs several commands as one engine batch (embedded and TCP only); one result each.
    pub async fn execute_batch(&mut self, commands: Vec<Command>) -> Result<Vec<Answer>, Failure> {
        let outcomes = match self {
            Channel::Embedded(engine) => {
                engine.submit_batch(Submission::admin_all(commands)).await.map_err(submit_failure)?
            }
            Channel::Tcp(client) => match tokio::time::timeout(REQUEST_TIMEOUT, client.submit_batch(commands)).await {
                Ok(result) => result.map_err(|error| client_failure(&error))?,
                Err(_) => return Err(Failure::new("timeout")),
            },
            Channel::TcpSerial(client) => {
                match tokio::time::timeout(REQUEST_TIMEOUT, client.submit_batch(commands)).await {
                    Ok(result) => result.map_err(|error| client_failure(&error))?,
                    Err(_) => return Err(Failure::fatal("timeout")),
                }
            }
            Channel::Http(_) | Channel::Iso(_) => return Err(Failure::new("unsupported_batch")),
        };
        Ok(outcomes.into_iter().map(outcome_answer).collect())
    }
}

#[cfg(test)]
mod tests {
    use kassa_engine::Rejection;

    use super::*;

    #[test]
    fn outcomes_become_codes() {
        assert_eq!(outcome_answer(Outcome::Applied(Reply::Done)), Ok(Reply::Done));
        let rejected = outcome_answer(Outcome::Rejected(Rejection::InsufficientFunds)).unwrap_err();
        assert_eq!((rejected.code.as_ref(), rejected.fatal), ("insufficient_funds", false));
        assert_eq!(submit_failure(SubmitError::Busy), Failure::new("busy"));
        assert!(submit_failure(SubmitError::StorageFailed).fatal);
        assert!(client_failure(&ClientError::Closed).fatal);
    }
}
