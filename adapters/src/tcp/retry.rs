//! [`RetryingClient`]: a [`Client`] that backs off on `Busy`, reconnects when the connection is
//! lost and sends the unanswered request again, with a timeout per call — the behaviour of the
//! Python and TypeScript clients (`clients/`).
//!
//! Resending is safe because kassa's commands carry client-chosen ids: a command that was
//! applied before the connection dropped answers its first outcome again (a transfer, a deposit,
//! a settlement...). Commands that name an existing object instead (`CaptureHold`, `VoidHold`,
//! `CancelBill`...) answer their second attempt with the object's state (`hold_already_resolved`
//! for a capture that did happen): a caller who needs certainty reads the object.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kassa_engine::command::{Command, Outcome};
use tokio::sync::Mutex;

use super::client::{Client, ClientError};
use super::frame::ErrorCode;

/// How a [`RetryingClient`] retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of a request answered `Busy` before the call fails with it.
    pub busy_retries: u32,
    /// The first backoff after `Busy`; it doubles each time, up to `backoff_max`, with jitter.
    pub backoff_initial: Duration,
    /// The longest backoff.
    pub backoff_max: Duration,
    /// Connection attempts after the connection is lost (0: fail the call instead).
    pub reconnects: u32,
    /// Longest time a call may take, retries included (`None`: no limit).
    pub call_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 8 Busy retries from 5 ms to 1 s, 10 reconnects, 30 s per call.
    fn default() -> RetryPolicy {
        RetryPolicy {
            busy_retries: 8,
            backoff_initial: Duration::from_millis(5),
            backoff_max: Duration::from_secs(1),
            reconnects: 10,
            call_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// A pipelined connection that survives `Busy` and lost connections; share it (`Arc`) between
/// tasks like a [`Client`].
pub struct RetryingClient {
    addr: SocketAddr,
    api_key: String,
    policy: RetryPolicy,
    connection: Mutex<Arc<Client>>,
    busy_retries: AtomicU64,
    reconnects: AtomicU64,
}

/// What to do after a failed attempt.
enum Next {
    Backoff,
    Reconnect,
    Fail,
}

fn next_step(error: &ClientError) -> Next {
    match error {
        ClientError::Server { code: ErrorCode::Busy, .. } => Next::Backoff,
        // The server is stopping, or the socket is gone: the request may or may not have been
        // applied; a new connection and the same request find out.
        ClientError::Server { code: ErrorCode::ShuttingDown, .. } | ClientError::Io(_) | ClientError::Closed => {
            Next::Reconnect
        }
        _ => Next::Fail,
    }
}

impl RetryingClient {
    /// Connects (with the policy's reconnect attempts) and performs the handshake.
    pub async fn connect(addr: SocketAddr, api_key: &str, policy: RetryPolicy) -> Result<RetryingClient, ClientError> {
        let client = connect_with_backoff(addr, api_key, &policy).await?;
        let connection = Mutex::new(Arc::new(client));
        let (busy_retries, reconnects) = (AtomicU64::new(0), AtomicU64::new(0));
        Ok(RetryingClient { addr, api_key: api_key.to_string(), policy, connection, busy_retries, reconnects })
    }

    /// How many times a request answered `Busy` was sent again, and how many new connections
    /// replaced lost ones, so far.
    pub fn retries(&self) -> (u64, u64) {
        (self.busy_retries.load(Ordering::Relaxed), self.reconnects.load(Ordering::Relaxed))
    }

    /// Submits one command: its outcome once durable, after as many retries as the policy allows.
    pub async fn submit(&self, command: Command) -> Result<Outcome, ClientError> {
        self.call(|client| {
            let command = command.clone();
            async move { client.submit(command).await }
        })
        .await
    }

    /// Submits 1..=8,190 commands in one engine batch, with the same retries.
    pub async fn submit_batch(&self, commands: Vec<Command>) -> Result<Vec<Outcome>, ClientError> {
        self.call(|client| {
            let commands = commands.clone();
            async move { client.submit_batch(commands).await }
        })
        .await
    }

    /// Runs `attempt` on the current connection until it succeeds, fails for good or times out.
    async fn call<T, F, Fut>(&self, attempt: F) -> Result<T, ClientError>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let retrying = async {
            let (mut busy, mut backoff) = (0, self.policy.backoff_initial);
            loop {
                let client = self.connection.lock().await.clone();
                let error = match attempt(client.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(error) => error,
                };
                match next_step(&error) {
                    Next::Backoff if busy < self.policy.busy_retries => {
                        busy += 1;
                        self.busy_retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(jittered(backoff)).await;
                        backoff = backoff.saturating_mul(2).min(self.policy.backoff_max);
                    }
                    Next::Reconnect if self.policy.reconnects > 0 => self.reconnect(&client).await?,
                    Next::Backoff | Next::Reconnect | Next::Fail => return Err(error),
                }
            }
        };
        match self.policy.call_timeout {
            Some(limit) => tokio::time::timeout(limit, retrying).await.map_err(|_| ClientError::Timeout)?,
            None => retrying.await,
        }
    }

    /// Replaces `broken` with a new connection, unless another caller already did.
    async fn reconnect(&self, broken: &Arc<Client>) -> Result<(), ClientError> {
        let mut connection = self.connection.lock().await;
        if Arc::ptr_eq(&connection, broken) {
            *connection = Arc::new(connect_with_backoff(self.addr, &self.api_key, &self.policy).await?);
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Connects, retrying with backoff up to `policy.reconnects` times (refused, reset, timed out).
async fn connect_with_backoff(addr: SocketAddr, api_key: &str, policy: &RetryPolicy) -> Result<Client, ClientError> {
    let mut backoff = policy.backoff_initial.max(Duration::from_millis(10));
    let mut attempts = 0;
    loop {
        match Client::connect(addr, api_key).await {
            Ok(client) => return Ok(client),
            // Refused or reset (the server restarts), or at its connection limit (`Busy`).
            Err(
                error @ (ClientError::Io(_)
                | ClientError::Closed
                | ClientError::Timeout
                | ClientError::Server { code: ErrorCode::Busy, .. }),
            ) if attempts < policy.reconnects => {
                tracing::debug!(%addr, %error, attempts, "kassa client: reconnecting");
                attempts += 1;
                tokio::time::sleep(jittered(backoff)).await;
                backoff = backoff.saturating_mul(2).min(policy.backoff_max);
            }
            Err(error) => return Err(error),
        }
    }
}

/// `delay` scaled by a random factor in [0.5, 1.0) so that many clients do not retry in step.
fn jittered(delay: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte);
    delay.saturating_mul(256 + u32::from(byte[0])) / 512
}
