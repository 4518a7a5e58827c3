//! Snapshots of the owner's directory in a replicated object-store bucket (`<prefix>_snapshots`),
//! and the streams trimmed below them.
//!
//! A snapshot is a RocksDB checkpoint of the owner's data directory
//! ([`Wal::checkpoint`](kassa_engine::wal::Wal::checkpoint)): its log, every partition's
//! snapshot, and what the log derived (history, event feed, transfer index, archived objects,
//! ids remembered past the id table's window), so a node started from it answers as the owner
//! did, retries and history included. Its files are uploaded as objects (a table file never
//! changes: named by its content, it is uploaded once, whichever node wrote it), then a
//! manifest naming them, the last record they hold, and where each stream may be read on from.
//!
//! - **Published only once replicated.** Every record the copy holds is in its stream before
//!   the manifest names it: a node starting from it never holds a record that a takeover's cut
//!   may void.
//! - **Trimmed one snapshot late.** After publishing snapshot `k`, the owner trims each stream
//!   below where snapshot `k - 1` reads on from, so a node that started from `k - 1` (or a
//!   standby that far behind) still finds every entry it needs.
//! - **A node starts from the latest** when it builds its directory from the cluster (a new
//!   node, or one whose directory is not the cluster's): it downloads the files, opens them as
//!   its directory, and reads each stream after the manifest's point.
//!
//! The owner checks it still owns the streams (partition 0's stream still ends at its last
//! entry) before it names a manifest and before it deletes objects, so a stale owner neither
//! replaces the manifest nor removes what a newer one names.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::Context;
use async_nats::jetstream::object_store::{self, ObjectStore};
use futures::TryStreamExt;
use kassa_engine::wal::WeakWal;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::log::{LogError, PartitionLog, nats};
use crate::replica::{JoinError, StreamReplica};

/// The object naming the latest snapshot.
const MANIFEST: &str = "manifest";

/// Longest wait for the records a copy holds to reach their streams before it is published.
const REPLICATED_WAIT_MAX: Duration = Duration::from_secs(10);

/// What a published snapshot holds, and where to read each stream on from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The last record of the log the copy holds: it opens to the state after it.
    pub last_seq: u64,
    /// Per partition, the stream sequence to read after (0: from the start).
    pub read_after: Vec<u64>,
    /// The copy's files.
    pub files: Vec<SnapshotFile>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Its name in the data directory.
    pub name: String,
    /// The object holding it.
    pub object: String,
    /// Its length.
    pub bytes: u64,
}

/// The snapshots' bucket under `prefix`, created if missing.
pub async fn bucket(js: &Context, prefix: &str, replicas: usize) -> Result<ObjectStore, LogError> {
    let name = format!("{prefix}_snapshots");
    if let Ok(store) = js.get_object_store(&name).await {
        return Ok(store);
    }
    let config = object_store::Config { bucket: name, num_replicas: replicas, ..Default::default() };
    js.create_object_store(config).await.map_err(nats)
}

/// The latest published snapshot, if any.
pub async fn latest(store: &ObjectStore) -> Result<Option<Manifest>, LogError> {
    let mut object = match store.get(MANIFEST).await {
        Ok(object) => object,
        Err(error) if error.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(nats(error)),
    };
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await.map_err(nats)?;
    let manifest = serde_json::from_slice(&bytes)
        .map_err(|error| LogError::Broken { sequence: 0, reason: format!("the snapshots' manifest: {error}") })?;
    Ok(Some(manifest))
}

/// Writes the files of `manifest` into `dir` (created `0700`; each file `0600`).
pub async fn download(store: &ObjectStore, manifest: &Manifest, dir: &Path) -> Result<(), JoinError> {
    kassa_engine::wal::dir::create_private_dir(dir).map_err(JoinError::Diverged)?;
    for file in &manifest.files {
        if file.name.contains('/') || file.name.starts_with('.') {
            return Err(JoinError::Diverged(format!("the snapshot names a file {:?}", file.name)));
        }
        let mut object = store.get(&file.object).await.map_err(nats)?;
        let path = dir.join(&file.name);
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true).mode(0o600);
        let mut out = options.open(&path).await.map_err(|error| local(&path, error))?;
        let copied = tokio::io::copy(&mut object, &mut out).await.map_err(|error| local(&path, error))?;
        out.sync_all().await.map_err(|error| local(&path, error))?;
        if copied != file.bytes {
            return Err(JoinError::Diverged(format!("{}: {copied} bytes, {} expected", file.object, file.bytes)));
        }
    }
    Ok(())
}

fn local(path: &Path, error: std::io::Error) -> JoinError {
    JoinError::Diverged(format!("{}: {error}", path.display()))
}

/// The owner's side: publishes a snapshot every interval, then trims the streams.
pub(crate) struct Publisher {
    pub(crate) runtime: Arc<tokio::runtime::Runtime>,
    pub(crate) js: Context,
    pub(crate) store: ObjectStore,
    pub(crate) prefix: String,
    /// The engine's log; the engine keeps it open (once it stopped, the publisher stops).
    pub(crate) wal: WeakWal,
    /// Where the checkpoint is made (beside the data directory: table files are hard links).
    pub(crate) scratch: std::path::PathBuf,
    pub(crate) replica: Arc<StreamReplica>,
    /// Names the objects of this publisher's small files (its node and a random number), each
    /// under the snapshot's last record; table files are named by their content.
    pub(crate) name: String,
    pub(crate) interval: Duration,
    /// The last manifest published.
    pub(crate) published: Option<Manifest>,
    /// The objects the bucket holds (listed at the first snapshot, kept since).
    pub(crate) stored: Option<HashSet<String>>,
    /// The object of each table file already digested: `name -> (length, object)`.
    pub(crate) tables: HashMap<String, (u64, String)>,
    /// Bytes uploaded for the snapshot being published.
    pub(crate) uploaded_bytes: u64,
}

impl Publisher {
    /// Publishes every interval until the engine is gone or this node no longer owns the
    /// streams. A failed attempt is logged and tried again at the next interval.
    pub(crate) fn run(mut self) {
        loop {
            std::thread::sleep(self.interval);
            let Some(wal) = self.wal.upgrade() else { return };
            match self.publish(&wal) {
                Ok(Some(manifest)) => {
                    let (last_seq, files, uploaded_bytes) =
                        (manifest.last_seq, manifest.files.len(), self.uploaded_bytes);
                    tracing::info!(last_seq, files, uploaded_bytes, "snapshot published");
                }
                Ok(None) => {}
                Err(Stop::Owner(reason)) => {
                    tracing::warn!(%reason, "no longer the streams' owner: snapshots stop");
                    return;
                }
                Err(Stop::Failed(reason)) => tracing::warn!(%reason, "a snapshot was not published"),
            }
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }

    fn publish(&mut self, wal: &kassa_engine::wal::Wal) -> Result<Option<Manifest>, Stop> {
        let newest = wal.last_record_seq().map_err(|error| Stop::Failed(error.to_string()))?.unwrap_or(0);
        if self.published.as_ref().is_some_and(|published| published.last_seq >= newest) {
            return Ok(None); // Nothing new since the last one.
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
        let last_seq = wal.checkpoint(&self.scratch).map_err(|error| Stop::Failed(error.to_string()))?;
        if self.published.as_ref().is_some_and(|published| published.last_seq >= last_seq) {
            return Ok(None);
        }
        let deadline = Instant::now() + REPLICATED_WAIT_MAX;
        while self.replica.replicated_through() < last_seq {
            if Instant::now() > deadline {
                return Err(Stop::Failed(format!("record {last_seq} is not in its stream yet")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let points = self.replica.trim_points(last_seq);
        let previous = self.published.as_ref().map(|published| published.read_after.clone());
        let read_after: Vec<u64> = (0..points.len())
            .map(|partition| {
                let before = previous.as_ref().and_then(|read_after| read_after.get(partition).copied()).unwrap_or(0);
                points[partition].unwrap_or(before).max(before)
            })
            .collect();
        let runtime = self.runtime.clone();
        let failed = |error: LogError| Stop::Failed(error.to_string());
        self.uploaded_bytes = 0;
        let files = runtime.block_on(self.upload(last_seq)).map_err(failed)?;
        let manifest = Manifest { last_seq, read_after, files };
        self.confirm_owner()?;
        let bytes = serde_json::to_vec(&manifest).expect("a manifest encodes");
        runtime.block_on(self.store.put(MANIFEST, &mut bytes.as_slice())).map_err(|error| failed(nats(error)))?;
        self.confirm_owner()?;
        runtime.block_on(self.forget(&manifest)).map_err(failed)?;
        self.published = Some(manifest.clone());
        Ok(Some(manifest))
    }

    /// Whether this node still owns the streams: a NATS error only fails this snapshot (the
    /// next interval tries again); another owner's entry stops the publisher.
    fn confirm_owner(&self) -> Result<(), Stop> {
        match self.replica.confirm_owner() {
            Ok(()) => Ok(()),
            Err(error @ LogError::Nats(_)) => Err(Stop::Failed(error.to_string())),
            Err(error) => Err(Stop::Owner(error.to_string())),
        }
    }

    /// Uploads the checkpoint's files the bucket lacks. A table file never changes: it is
    /// named by its content's SHA-256, so it is uploaded once, whichever node wrote it (a node
    /// that started from a snapshot holds the same files). The others are small and uploaded
    /// with each snapshot under a name of their own (one being downloaded is never
    /// overwritten).
    async fn upload(&mut self, last_seq: u64) -> Result<Vec<SnapshotFile>, LogError> {
        let mut stored = match self.stored.take() {
            Some(stored) => stored,
            None => {
                self.store.list().await.map_err(nats)?.map_ok(|object| object.name).try_collect().await.map_err(nats)?
            }
        };
        let mut files = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.scratch).await.map_err(nats)?;
        while let Some(entry) = entries.next_entry().await.map_err(nats)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = entry.metadata().await.map_err(nats)?.len();
            let object = match self.tables.get(&name) {
                Some((length, object)) if *length == bytes => object.clone(),
                _ if name.ends_with(".sst") => {
                    let object = format!("table/{}", digest(&entry.path()).map_err(nats)?);
                    self.tables.insert(name.clone(), (bytes, object.clone()));
                    object
                }
                _ => format!("{}/{last_seq}/{name}", self.name),
            };
            if !stored.contains(&object) {
                let mut file = tokio::fs::File::open(entry.path()).await.map_err(nats)?;
                self.store.put(object.as_str(), &mut file).await.map_err(nats)?;
                stored.insert(object.clone());
                self.uploaded_bytes += bytes;
            }
            files.push(SnapshotFile { name, object, bytes });
        }
        self.stored = Some(stored);
        Ok(files)
    }

    /// Deletes the objects `manifest` does not name, then trims each stream below where the
    /// previous manifest read on from.
    async fn forget(&mut self, manifest: &Manifest) -> Result<(), LogError> {
        let named: HashSet<&str> = manifest.files.iter().map(|file| file.object.as_str()).collect();
        let objects: Vec<_> = self.store.list().await.map_err(nats)?.try_collect().await.map_err(nats)?;
        for object in
            objects.into_iter().filter(|object| object.name != MANIFEST && !named.contains(object.name.as_str()))
        {
            self.store.delete(&object.name).await.map_err(nats)?;
            if let Some(stored) = self.stored.as_mut() {
                stored.remove(&object.name);
            }
        }
        let Some(previous) = &self.published else { return Ok(()) };
        for (partition, keep_from) in (0u16..).zip(&previous.read_after) {
            if *keep_from > 1 {
                PartitionLog::trim(&self.js, &self.prefix, partition, *keep_from).await?;
            }
        }
        Ok(())
    }
}

/// A stream keeps marks this many records apart, and its latest.
const MARK_RECORDS: u64 = 256;

/// Where one stream stood after some of its owner's appends: `(the last record's number in the
/// local log, the stream's sequence after it)`, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Marks(VecDeque<(u64, u64)>);

impl Marks {
    /// The stream's sequence after an append whose last record is number `seq` (or after a
    /// cut after record `seq`).
    pub(crate) fn mark(&mut self, seq: u64, sequence: u64) {
        // The last mark moves on until it is MARK_RECORDS past the one before it.
        let len = self.0.len();
        if len >= 2 && self.0[len - 2].0 + MARK_RECORDS > seq {
            self.0[len - 1] = (seq, sequence);
        } else {
            self.0.push_back((seq, sequence));
        }
    }

    /// Where the stream may be trimmed below a copy of the local log through record
    /// `last_seq`: the sequence of an entry up to which every record is numbered at most
    /// `last_seq` or is void (a dead owner's, before this owner's cut), and after which only
    /// this owner's records follow. A reader of the copy starts after it. `None`: no such
    /// point is known. Marks older than the point returned are forgotten.
    pub(crate) fn trim_point(&mut self, last_seq: u64) -> Option<u64> {
        let covered = self.0.partition_point(|(seq, _)| *seq <= last_seq);
        let point = covered.checked_sub(1).map(|index| self.0[index].1);
        self.0.drain(..covered.saturating_sub(1));
        point
    }
}

/// The SHA-256 of the file at `path`, in hex.
fn digest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hex::encode(context.finish())),
            read => context.update(&buffer[..read]),
        }
    }
}

/// Why a snapshot was not published.
enum Stop {
    /// This node no longer owns the streams.
    Owner(String),
    /// Something failed; the next interval tries again.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::{MARK_RECORDS, Marks};

    #[test]
    fn a_trim_point_is_the_last_mark_a_copy_covers() {
        let mut marks = Marks::default();
        assert_eq!(marks.trim_point(100), None, "nothing appended");
        marks.mark(10, 3); // A cut after record 10 at sequence 3.
        assert_eq!(marks.trim_point(9), None, "the copy holds less than the cut");
        assert_eq!(marks.trim_point(10), Some(3));
        // One append per record: marks stay MARK_RECORDS apart, the last one moving on.
        for seq in 11..=1_000 {
            marks.mark(seq, seq - 7);
        }
        let kept: Vec<u64> = marks.0.iter().map(|(seq, _)| *seq).collect();
        assert!(kept.windows(2).rev().skip(1).all(|pair| pair[1] - pair[0] >= MARK_RECORDS - 1), "{kept:?}");
        assert_eq!(*kept.last().unwrap(), 1_000, "the latest append is marked");
        assert!(kept.len() <= 1_000 / usize::try_from(MARK_RECORDS).unwrap() + 2, "{kept:?}");
        // A copy through record 600 trims at the last mark up to 600.
        let below = *kept.iter().filter(|seq| **seq <= 600).max().unwrap();
        assert_eq!(marks.trim_point(600), Some(below - 7));
        assert_eq!(marks.0.front().unwrap().0, below, "older marks forgotten");
        assert_eq!(marks.trim_point(1_000), Some(993));
        assert_eq!(marks.trim_point(600), None, "forgotten");
    }
}
