//! A partition's log on JetStream: one stream per partition, one owner appending to it.
//!
//! ```text
//! stream KASSA_P<n>, subject <prefix>.p<n>.log, file storage, R1 or R3
//!   seq 1  takeover  epoch 7   prev GENESIS
//!   seq 2  record    epoch 7   prev link(1)     <- appended with expected last sequence 1
//!   seq 3  takeover  epoch 9   prev link(2)     <- a new owner; epoch 7's next append fails
//! ```
//!
//! **Fencing.** Each append names the sequence it expects the stream to end at
//! (`Nats-Expected-Last-Sequence`) and the id of the entry it expects there
//! (`Nats-Expected-Last-Msg-Id`; an id is `epoch:sequence`): a pipeline of appends lands whole
//! and in order, or its rest fails, and no append of an old owner can follow a new owner's
//! entry even where the sequences happen to match. An owner whose append failed does not know what landed, so it appends nothing
//! more ([`LogError::Fenced`] from then on): it must read the stream and take it over again.
//!
//! **Chain.** Each entry carries its owner's epoch (`Kassa-Epoch`), its kind (`Kassa-Kind`)
//! and its predecessor's link (`Kassa-Prev`, [`crate::chain`]). A reader refuses an entry that
//! names another predecessor, a record of another epoch than the last takeover's, or a takeover
//! that does not raise the epoch ([`LogError::Broken`]).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::context::{Publish, PublishErrorKind};
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::StreamExt;

use crate::chain::{self, EntryKind, GENESIS, Link};

const EPOCH: &str = "Kassa-Epoch";
const KIND: &str = "Kassa-Kind";
const PREV: &str = "Kassa-Prev";

/// The largest part of an entry one message carries (NATS's default `max_payload` is 1 MiB,
/// and the headers travel with it): a larger entry goes as consecutive parts (`Kassa-Part:
/// i/n`), which a reader joins; a record torn after some of its parts (never acknowledged) is
/// skipped by readers.
pub const PART_BYTES_MAX: usize = 1024 * 1024 - 4 * 1024;

const PART: &str = "Kassa-Part";

/// Tails up to this many entries are read one get at a time rather than by a consumer.
const DIRECT_READ_MAX: u64 = 256;

/// Why the log refused.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Another owner appended (or this owner's earlier append failed): append nothing more.
    #[error("the partition's log moved on without this owner (fenced at sequence {0})")]
    Fenced(u64),
    /// The stream holds an entry that does not follow from the one before it.
    #[error("the partition's log is broken at sequence {sequence}: {reason}")]
    Broken {
        /// The entry refused.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A takeover must raise the epoch above the stream's.
    #[error("epoch {wanted} is not above the log's epoch {current}")]
    StaleEpoch {
        /// The epoch asked for.
        wanted: u64,
        /// The stream's epoch.
        current: u64,
    },
    /// NATS did not answer as expected.
    #[error("JetStream: {0}")]
    Nats(String),
}

pub(crate) fn nats(error: impl std::fmt::Display) -> LogError {
    LogError::Nats(error.to_string())
}

/// One entry of a partition's log, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence in the stream, from 1.
    pub sequence: u64,
    /// A record or a takeover.
    pub kind: EntryKind,
    /// The epoch of the owner that appended it.
    pub epoch: u64,
    /// What it carries (empty for a takeover).
    pub payload: Bytes,
}

/// Where a log ends: its last sequence, the link of its last entry and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// The last sequence (0: empty).
    pub sequence: u64,
    /// The link of the entry at `sequence` ([`GENESIS`] for an empty stream).
    pub link: Link,
    /// The epoch of the last takeover (0: none).
    pub epoch: u64,
}

impl LogPosition {
    /// The position after the entry at `sequence` of `stream` (0: the start).
    pub(crate) async fn at(stream: &jetstream::stream::Stream, sequence: u64) -> Result<LogPosition, LogError> {
        if sequence == 0 {
            return Ok(LogPosition { sequence: 0, link: GENESIS, epoch: 0 });
        }
        let message = stream.get_raw_message(sequence).await.map_err(nats)?;
        let entry = Header::parse(sequence, &message.headers)?;
        let link = chain::link(&entry.prev, entry.kind, entry.epoch, &message.payload);
        Ok(LogPosition { sequence, link, epoch: entry.epoch })
    }
}

/// The stream and subject of partition `partition` under `prefix`.
pub(crate) fn names(prefix: &str, partition: u16) -> (String, String) {
    (format!("{}_P{partition}", prefix.to_uppercase()), format!("{prefix}.p{partition}.log"))
}

/// Partition `partition`'s stream under `prefix`.
pub(crate) async fn stream(js: &Context, prefix: &str, partition: u16) -> Result<jetstream::stream::Stream, LogError> {
    js.get_stream(names(prefix, partition).0).await.map_err(nats)
}

/// Partition `partition`'s log, as its owner holds it.
#[derive(Debug)]
pub struct PartitionLog {
    js: Context,
    stream: String,
    subject: String,
    end: LogPosition,
    fenced: bool,
}

impl PartitionLog {
    /// Creates partition `partition`'s stream under `prefix` if it does not exist, with
    /// `replicas` copies (3 in a cluster: a publish is acknowledged once a quorum has it).
    pub async fn create_stream(js: &Context, prefix: &str, partition: u16, replicas: usize) -> Result<(), LogError> {
        let (name, subject) = names(prefix, partition);
        let config = Config {
            name,
            subjects: vec![subject],
            storage: StorageType::File,
            num_replicas: replicas,
            allow_direct: true,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(nats)?;
        Ok(())
    }

    /// Reads partition `partition`'s log after sequence `after` through its current end,
    /// checking the chain, handing every entry to `apply`; returns where it ends.
    pub async fn read(
        js: &Context,
        prefix: &str,
        partition: u16,
        after: u64,
        mut apply: impl FnMut(Entry),
    ) -> Result<LogPosition, LogError> {
        let stream = stream(js, prefix, partition).await?;
        let last = stream.get_info().await.map_err(nats)?.state.last_sequence;
        let mut position = LogPosition::at(&stream, after).await?;
        if last <= after {
            return Ok(position);
        }
        let mut joining: Vec<u8> = Vec::new();
        let mut take = |sequence, headers: &HeaderMap, payload: Bytes| {
            position = follow(position, sequence, headers, &payload)?;
            let Header { kind, epoch, .. } = Header::parse(sequence, headers)?;
            let (part, count) = part_of(sequence, headers)?;
            if part == 1 {
                joining.clear(); // A record torn after some of its parts was never acknowledged.
            } else if joining.is_empty() {
                return Err(LogError::Broken { sequence, reason: format!("part {part} without part 1") });
            }
            if count == 1 {
                apply(Entry { sequence, kind, epoch, payload });
            } else {
                joining.extend_from_slice(&payload);
                if part == count {
                    apply(Entry { sequence, kind, epoch, payload: Bytes::from(std::mem::take(&mut joining)) });
                }
            }
            Ok(())
        };
        if last - after <= DIRECT_READ_MAX {
            // A short tail (an owner resuming after an append of unknown outcome): one get per
            // entry, which a stream answers as soon as it has a leader again.
            for sequence in after + 1..=last {
                let message = stream.get_raw_message(sequence).await.map_err(nats)?;
                take(sequence, &message.headers, message.payload)?;
            }
            return Ok(position);
        }
        let deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: after + 1 };
        let consumer =
            stream.create_consumer(OrderedConfig { deliver_policy, ..Default::default() }).await.map_err(nats)?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        for _ in after..last {
            let message = messages.next().await.ok_or_else(|| nats("the stream ended early"))?.map_err(nats)?;
            let sequence = message.info().map_err(nats)?.stream_sequence;
            let headers = message.headers.clone().unwrap_or_default();
            take(sequence, &headers, message.payload.clone())?;
        }
        Ok(position)
    }

    /// Where partition `partition`'s log ends, and its last whole record, read backwards from
    /// the end: takeover entries are skipped, a record's parts joined, and a record torn after
    /// some of its parts (never acknowledged) passed over. What a joining node needs, without
    /// reading the whole stream (the chain is not checked here; [`PartitionLog::read`] checks it).
    /// `None` if the stream holds no whole record (above where it was trimmed).
    pub async fn last_record(js: &Context, prefix: &str, partition: u16) -> Result<(u64, Option<Entry>), LogError> {
        let stream = stream(js, prefix, partition).await?;
        let state = stream.get_info().await.map_err(nats)?.state;
        // A trimmed stream starts later: what went before is in a snapshot (`snapshots.rs`).
        let (end, first) = (state.last_sequence, state.first_sequence.max(1));
        let mut sequence = end;
        while sequence >= first {
            let message = stream.get_raw_message(sequence).await.map_err(nats)?;
            let Header { kind, epoch, .. } = Header::parse(sequence, &message.headers)?;
            let (part, count) = part_of(sequence, &message.headers)?;
            // The sequence of this entry's first part (from its own header: never trusted to
            // reach before the stream's start).
            let first_of = |parts: usize| {
                (sequence + 1)
                    .checked_sub(u64::try_from(parts).unwrap_or(u64::MAX))
                    .filter(|first| *first >= 1)
                    .ok_or_else(|| LogError::Broken {
                        sequence,
                        reason: format!("{parts} parts end here, more than the stream holds"),
                    })
            };
            if kind != EntryKind::Record || part < count {
                // Past this entry, or past what landed of a torn record.
                sequence = first_of(part)? - 1;
                continue;
            }
            if first_of(count)? < first {
                break; // A record whose first parts were trimmed: in the snapshot.
            }
            let mut parts = Vec::with_capacity(count);
            for (index, at) in (first_of(count)?..sequence).enumerate() {
                let earlier = stream.get_raw_message(at).await.map_err(nats)?;
                if part_of(at, &earlier.headers)? != (index + 1, count) {
                    return Err(LogError::Broken { sequence: at, reason: "a record's parts out of order".into() });
                }
                parts.push(earlier.payload);
            }
            parts.push(message.payload);
            let payload = parts.concat();
            return Ok((end, Some(Entry { sequence, kind, epoch, payload: Bytes::from(payload) })));
        }
        Ok((end, None))
    }

    /// Takes partition `partition`'s log over with `epoch` (the lease's): reads it after
    /// `after` (handing each entry to `apply`), appends a takeover entry at its end, and reads
    /// again if another owner appended meanwhile. From then on, appends of earlier epochs fail.
    pub async fn take_over(
        js: &Context,
        prefix: &str,
        partition: u16,
        epoch: u64,
        after: u64,
        mut apply: impl FnMut(Entry),
    ) -> Result<PartitionLog, LogError> {
        let (_, subject) = names(prefix, partition);
        let mut after = after;
        loop {
            let end = PartitionLog::read(js, prefix, partition, after, &mut apply).await?;
            if epoch <= end.epoch {
                return Err(LogError::StaleEpoch { wanted: epoch, current: end.epoch });
            }
            let mut log = PartitionLog {
                js: js.clone(),
                stream: names(prefix, partition).0,
                subject: subject.clone(),
                end,
                fenced: false,
            };
            match log.append_entries(EntryKind::Takeover, epoch, &[Bytes::new()]).await {
                Ok(_) => {
                    log.end.epoch = epoch;
                    apply(Entry {
                        sequence: log.end.sequence,
                        kind: EntryKind::Takeover,
                        epoch,
                        payload: Bytes::new(),
                    });
                    return Ok(log);
                }
                Err(LogError::Fenced(_)) => {
                    let stream = stream(js, prefix, partition).await?;
                    let now = stream.get_info().await.map_err(nats)?.state.last_sequence;
                    if now <= end.sequence {
                        // Nothing new to read: the last entry is not what this protocol wrote
                        // there (its message id), and trying again would never succeed.
                        let reason = "the last entry's message id is not its epoch's".to_string();
                        return Err(LogError::Broken { sequence: end.sequence, reason });
                    }
                    after = end.sequence; // Another owner appended meanwhile: read it, try again.
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Resumes partition `partition`'s log as the owner of `epoch` after an append whose
    /// outcome is unknown (the stream's leader changed, the connection dropped): reads it after
    /// `after`, handing each entry to `apply` (those of `epoch` are this owner's: what landed),
    /// and goes on at its end. [`LogError::StaleEpoch`] if another owner took it over.
    pub async fn resume(
        js: &Context,
        prefix: &str,
        partition: u16,
        epoch: u64,
        after: u64,
        apply: impl FnMut(Entry),
    ) -> Result<PartitionLog, LogError> {
        let (_, subject) = names(prefix, partition);
        let end = PartitionLog::read(js, prefix, partition, after, apply).await?;
        if end.epoch != epoch {
            return Err(LogError::StaleEpoch { wanted: epoch, current: end.epoch });
        }
        Ok(PartitionLog { js: js.clone(), stream: names(prefix, partition).0, subject, end, fenced: false })
    }

    /// Appends `payloads` as records, pipelined; returns the stream's last sequence once every
    /// one is stored (by a quorum of its replicas). An error leaves the log fenced.
    pub async fn append(&mut self, payloads: &[Bytes]) -> Result<u64, LogError> {
        let epoch = self.end.epoch;
        self.append_entries(EntryKind::Record, epoch, payloads).await
    }

    /// Appends a cut: the log goes on after record `after` (the engine's numbering), and
    /// records of earlier epochs numbered after it are void ([`EntryKind::Cut`]).
    pub async fn cut(&mut self, after: u64) -> Result<u64, LogError> {
        let epoch = self.end.epoch;
        let payload = Bytes::copy_from_slice(&after.to_be_bytes());
        self.append_entries(EntryKind::Cut, epoch, &[payload]).await
    }

    /// The epoch of the last entry of partition `partition`'s log (0: empty): the owner that
    /// wrote last.
    pub async fn end_epoch(js: &Context, prefix: &str, partition: u16) -> Result<u64, LogError> {
        let stream = stream(js, prefix, partition).await?;
        let end = stream.get_info().await.map_err(nats)?.state.last_sequence;
        Ok(LogPosition::at(&stream, end).await?.epoch)
    }

    /// Whether the stream still ends where this owner's last append left it: nobody took it
    /// over since ([`LogError::Fenced`] if somebody did).
    pub async fn confirm(&self) -> Result<(), LogError> {
        let stream = self.js.get_stream(&self.stream).await.map_err(nats)?;
        let end = stream.get_info().await.map_err(nats)?.state.last_sequence;
        if self.fenced || end != self.end.sequence {
            return Err(LogError::Fenced(self.end.sequence));
        }
        Ok(())
    }

    /// The first sequence partition `partition`'s stream holds (above 1 once trimmed).
    pub async fn first_sequence(js: &Context, prefix: &str, partition: u16) -> Result<u64, LogError> {
        let stream = stream(js, prefix, partition).await?;
        Ok(stream.get_info().await.map_err(nats)?.state.first_sequence)
    }

    /// Removes partition `partition`'s entries before sequence `keep_from` (the entry there
    /// stays: a reader starting after it finds its link there).
    pub async fn trim(js: &Context, prefix: &str, partition: u16, keep_from: u64) -> Result<(), LogError> {
        let stream = stream(js, prefix, partition).await?;
        stream.purge().sequence(keep_from).await.map_err(nats)?;
        Ok(())
    }

    /// Where this owner's log ends.
    pub fn position(&self) -> LogPosition {
        self.end
    }

    async fn append_entries(&mut self, kind: EntryKind, epoch: u64, payloads: &[Bytes]) -> Result<u64, LogError> {
        if self.fenced {
            return Err(LogError::Fenced(self.end.sequence));
        }
        // Fenced until every acknowledgement is in: an error anywhere leaves it so.
        self.fenced = true;
        let mut end = self.end;
        let mut acks = Vec::with_capacity(payloads.len());
        let parts = payloads.iter().flat_map(|payload| {
            let count = payload.len().div_ceil(PART_BYTES_MAX).max(1);
            (0..count).map(move |index| {
                let start = index * PART_BYTES_MAX;
                (payload.slice(start..payload.len().min(start + PART_BYTES_MAX)), index + 1, count)
            })
        });
        for (payload, part, count) in parts {
            let mut publish = Publish::build()
                .payload(payload.clone())
                .message_id(message_id(epoch, end.sequence + 1))
                .expected_last_sequence(end.sequence);
            if end.sequence > 0 {
                // The sequence alone does not fence a pipeline: after a takeover landed, a later
                // append of the old owner's pipeline may expect exactly the new end. The last
                // message id names the epoch that wrote it, so no other owner's entry matches.
                publish = publish.expected_last_message_id(message_id(end.epoch, end.sequence));
            }
            if count > 1 {
                publish = publish.header(PART, format!("{part}/{count}").as_str());
            }
            let publish = publish
                .header(EPOCH, epoch.to_string().as_str())
                .header(KIND, kind.name())
                .header(PREV, hex::encode(end.link).as_str());
            acks.push((end.sequence + 1, self.js.send_publish(self.subject.clone(), publish).await.map_err(nats)?));
            end =
                LogPosition { sequence: end.sequence + 1, link: chain::link(&end.link, kind, epoch, &payload), epoch };
        }
        for (expected, ack) in acks {
            let ack = ack.await.map_err(|error| match error.kind() {
                PublishErrorKind::WrongLastSequence | PublishErrorKind::WrongLastMessageId => {
                    LogError::Fenced(expected - 1)
                }
                _ => nats(error),
            })?;
            if ack.sequence != expected {
                return Err(LogError::Fenced(expected - 1));
            }
        }
        self.end = end;
        self.fenced = false;
        Ok(end.sequence)
    }
}

/// The `Nats-Msg-Id` of the entry at `sequence` written in `epoch`: unique in the stream (a
/// retried publish is stored once) and naming its owner's epoch.
fn message_id(epoch: u64, sequence: u64) -> String {
    format!("{epoch}:{sequence}")
}

/// What an entry's headers say.
pub(crate) struct Header {
    pub(crate) kind: EntryKind,
    pub(crate) epoch: u64,
    pub(crate) prev: Link,
}

impl Header {
    pub(crate) fn parse(sequence: u64, headers: &HeaderMap) -> Result<Header, LogError> {
        let broken = |reason: &str| LogError::Broken { sequence, reason: reason.to_string() };
        let text = |name: &str| headers.get(name).map(|value| value.as_str().to_string());
        let kind = text(KIND).and_then(|kind| EntryKind::from_name(&kind)).ok_or_else(|| broken("no kind"))?;
        let epoch = text(EPOCH).and_then(|epoch| epoch.parse().ok()).ok_or_else(|| broken("no epoch"))?;
        let prev = text(PREV)
            .and_then(|prev| hex::decode(prev).ok())
            .and_then(|prev| Link::try_from(prev).ok())
            .ok_or_else(|| broken("no predecessor"))?;
        Ok(Header { kind, epoch, prev })
    }
}

/// Which part of how many the message at `sequence` is (`1/1` without the header).
pub(crate) fn part_of(sequence: u64, headers: &HeaderMap) -> Result<(usize, usize), LogError> {
    let Some(value) = headers.get(PART) else { return Ok((1, 1)) };
    let parsed =
        value.as_str().split_once('/').and_then(|(part, count)| Some((part.parse().ok()?, count.parse().ok()?)));
    match parsed {
        Some((part, count)) if (1..=count).contains(&part) => Ok((part, count)),
        _ => Err(LogError::Broken { sequence, reason: format!("part {value}") }),
    }
}

/// The position after the entry at `sequence`, if it follows `position`.
pub(crate) fn follow(
    position: LogPosition,
    sequence: u64,
    headers: &HeaderMap,
    payload: &[u8],
) -> Result<LogPosition, LogError> {
    let broken = |reason: String| LogError::Broken { sequence, reason };
    if sequence != position.sequence + 1 {
        return Err(broken(format!("read after sequence {}", position.sequence)));
    }
    let Header { kind, epoch, prev } = Header::parse(sequence, headers)?;
    if prev != position.link {
        return Err(broken("it names another predecessor".into()));
    }
    match kind {
        EntryKind::Record | EntryKind::Cut if epoch != position.epoch => {
            return Err(broken(format!("a {} of epoch {epoch} in epoch {}", kind.name(), position.epoch)));
        }
        EntryKind::Takeover if epoch <= position.epoch => {
            return Err(broken(format!("a takeover to epoch {epoch} from epoch {}", position.epoch)));
        }
        _ => {}
    }
    Ok(LogPosition { sequence, link: chain::link(&prev, kind, epoch, payload), epoch })
}

/// A JetStream context on `client` (a shorthand for the tests and the engine).
pub fn context(client: async_nats::Client) -> Context {
    jetstream::new(client)
}
