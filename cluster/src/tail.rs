//! A partition's log read as it grows: what a standby follows its owner with.

use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use bytes::Bytes;
use futures::StreamExt;

use crate::log::{Entry, Header, LogError, LogPosition, follow, nats, part_of};

/// An ordered consumer of partition `partition`'s log from a sequence on, each entry checked
/// against the chain (a broken one ends the tail with [`LogError::Broken`]).
pub struct Tail {
    /// After the last message read (perhaps a part of a record).
    read: LogPosition,
    /// After the last whole entry handed out: where a tail opened again goes on from.
    position: LogPosition,
    joining: Vec<u8>,
    messages: Ordered,
}

impl Tail {
    /// Follows partition `partition`'s log after sequence `after`.
    pub async fn open(js: &Context, prefix: &str, partition: u16, after: u64) -> Result<Tail, LogError> {
        let stream = crate::log::stream(js, prefix, partition).await?;
        let position = LogPosition::at(&stream, after).await?;
        let deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: after + 1 };
        let consumer =
            stream.create_consumer(OrderedConfig { deliver_policy, ..Default::default() }).await.map_err(nats)?;
        let messages = consumer.messages().await.map_err(nats)?;
        Ok(Tail { read: position, position, joining: Vec::new(), messages })
    }

    /// Where the entries handed out so far end (never inside a record's parts).
    pub fn position(&self) -> LogPosition {
        self.position
    }

    /// The next whole entry, waiting up to `wait` for it (`None`: none came; a record's parts
    /// read so far are kept for the next call).
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Entry>, LogError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.messages.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(nats("the consumer ended")),
                Ok(Some(message)) => message.map_err(nats)?,
            };
            let sequence = message.info().map_err(nats)?.stream_sequence;
            let headers = message.headers.clone().unwrap_or_default();
            let payload: Bytes = message.payload.clone();
            self.read = follow(self.read, sequence, &headers, &payload)?;
            let Header { kind, epoch, .. } = Header::parse(sequence, &headers)?;
            let (part, count) = part_of(sequence, &headers)?;
            if part == 1 {
                self.joining.clear(); // A record torn after some of its parts was never acknowledged.
            } else if self.joining.is_empty() {
                return Err(LogError::Broken { sequence, reason: format!("part {part} without part 1") });
            }
            if count == 1 {
                self.position = self.read;
                return Ok(Some(Entry { sequence, kind, epoch, payload }));
            }
            self.joining.extend_from_slice(&payload);
            if part == count {
                self.position = self.read;
                let payload = Bytes::from(std::mem::take(&mut self.joining));
                return Ok(Some(Entry { sequence, kind, epoch, payload }));
            }
        }
    }
}
