//! A node of a cluster (`kassa serve --cluster`): it owns every partition, or follows the
//! owner as a hot standby until the owner's leases lapse, and then takes the partitions over.
//!
//! - **Owner at once.** A node that wins partition 0's lease (waiting for its own old lease
//!   after a crash) takes the others too. If it wrote every stream's last entry (its directory
//!   names the epochs it owned them with), its local log is the cluster's plus, perhaps, an
//!   unacknowledged tail that it copies on. Otherwise its directory is rebuilt from the streams.
//! - **Standby.** A node that finds partition 0's lease held by another node rebuilds its
//!   directory from the streams and follows them: each stream is read as it grows, the records
//!   are merged back into the engine's numbering (`merge.rs`), written to the local log and
//!   applied through the same `commit` ([`Follower`]). It tries partition 0's lease every
//!   tenth of a lease's time to live; partition 0 is the election, so two standbys never split
//!   the partitions between them.
//! - **Takeover.** The new owner holds every lease and renews them from then on. It appends a
//!   takeover entry to every stream, which fences the old owner; reads each stream to its end;
//!   appends a cut after the last record it could apply without a gap (voiding the records of
//!   a group the old owner never finished copying, so never acknowledged); and opens the engine
//!   on the state it followed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::object_store::ObjectStore;
use kassa_engine::runtime::{Engine, EngineConfig, Follower, RecoveryReport, Replica};
use kassa_engine::wal::Wal;
use parking_lot::Mutex;

use crate::directory::{self, Addresses, DirectoryFacts};
use crate::lease::{Lease, LeaseError, Leases};
use crate::log::{LogError, PartitionLog, context};
use crate::merge::Merge;
use crate::replica::{
    ClusterOptions, JoinError, StreamReplica, acquire_when_lapsed, copy_missing, keep_leases, random_bytes,
};
use crate::snapshots;
use crate::tail::Tail;

/// What a node tells its adapters while it is a standby.
#[derive(Debug, Default)]
pub struct StandbyView {
    owner: Mutex<Option<Addresses>>,
}

impl StandbyView {
    /// The owner's addresses, if known: where a standby forwards requests.
    pub fn owner(&self) -> Option<Addresses> {
        self.owner.lock().clone()
    }

    /// Names the owner's addresses (`None`: none known).
    pub fn set_owner(&self, owner: Option<Addresses>) {
        *self.owner.lock() = owner;
    }
}

/// A standby's state: the engine's state rebuilt from the streams and kept current.
struct Standby {
    follower: Follower,
    merge: Merge,
    tails: Vec<Tail>,
    /// Per stream, the sequence its reading starts after (a snapshot's point, or 0).
    read_after: Vec<u64>,
}

/// Most entries read from one stream before the others get their turn.
const READ_BURST: usize = 4_096;

/// Starts from the latest snapshot a standby tries before it gives up, each time the streams
/// moved past the snapshot while it was downloaded and opened.
const STANDBY_TRIES_MAX: u32 = 5;

/// Joins the cluster with the data directory of `config` (not opened yet) and returns the
/// engine once this node owns every partition: at once, or after following the owner as a
/// standby (`view` tells the adapters where the owner is meanwhile). From then on the leases
/// are renewed; `lost` is called once if one is lost, and the node must stop answering.
pub fn run(
    options: &ClusterOptions,
    config: EngineConfig,
    view: Arc<StandbyView>,
    lost: impl FnOnce(String) + Send + 'static,
) -> Result<(Engine, RecoveryReport), JoinError> {
    let data_dir = config.data_dir.clone();
    let local_facts = match data_dir.join("CURRENT").exists() {
        true => DirectoryFacts::of(&Wal::open(&data_dir, kassa_engine::Durability::Sync)?)?,
        false => None,
    };
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kassa-nats")
            .enable_all()
            .build()
            .map_err(|error| JoinError::Connect(error.to_string()))?,
    );
    let fresh = || DirectoryFacts {
        secret: crate::replica::random_secret(),
        partitions: config.partitions,
        ids_max: config.ids_max as u64,
        resolved_in_memory_ms: config.resolved_in_memory_ms,
    };
    let (js, facts, leases, store) = runtime.block_on(async {
        let urls: Vec<&str> = options.urls.iter().map(String::as_str).collect();
        let client =
            async_nats::connect(urls.as_slice()).await.map_err(|error| JoinError::Connect(error.to_string()))?;
        let mut js = context(client);
        // A publish whose acknowledgement takes longer is resumed (`append_riding_through`).
        js.set_timeout(Duration::from_secs(2));
        let facts = directory::shared(&js, &options.prefix, options.replicas, local_facts.clone(), fresh).await?;
        let leases =
            Leases::open(&js, &format!("{}_leases", options.prefix), options.lease_ttl, options.replicas).await?;
        if let Some(addresses) = &options.addresses {
            directory::publish_addresses(&js, &options.prefix, &options.node_id, addresses).await?;
        }
        for partition in 0..facts.partitions {
            PartitionLog::create_stream(&js, &options.prefix, partition, options.replicas).await?;
        }
        let store = snapshots::bucket(&js, &options.prefix, options.replicas).await?;
        Ok::<_, JoinError>((js, facts, leases, store))
    })?;
    let node = Node { runtime, js, store, options: options.clone(), facts, config };
    let (first, standby) = node.win_partition_zero(&leases, &view)?;
    let mut held = vec![first];
    for partition in 1..node.facts.partitions {
        held.push(node.runtime.block_on(acquire_when_lapsed(&leases, partition, &node.options.node_id))?);
    }
    keep_leases(node.runtime.clone(), leases, held.clone(), lost);
    // Every stream is written with partition 0's epoch, the election's: it is above every epoch
    // any stream had (revisions of the leases' bucket only grow), and one owner's entries then
    // carry one epoch in every stream, which is what a cut compares across streams.
    let epoch = held[0].epoch;
    for lease in &mut held {
        lease.epoch = epoch;
    }
    tracing::info!(node = %node.options.node_id, epoch, "every partition's lease held: taking the partitions over");
    node.own(standby, &held)
}

struct Node {
    runtime: Arc<tokio::runtime::Runtime>,
    js: async_nats::jetstream::Context,
    store: ObjectStore,
    options: ClusterOptions,
    facts: DirectoryFacts,
    config: EngineConfig,
}

impl Node {
    /// Waits for partition 0's lease: for this node's own old lease (a restart) up to twice
    /// its time to live; for another node's, following the streams as a standby meanwhile.
    fn win_partition_zero(&self, leases: &Leases, view: &StandbyView) -> Result<(Lease, Option<Standby>), JoinError> {
        let node = self.options.node_id.as_str();
        let started = Instant::now();
        let mut standby: Option<Standby> = None;
        loop {
            match self.runtime.block_on(leases.acquire(0, node)) {
                Ok(lease) => return Ok((lease, standby)),
                Err(LeaseError::Held { holder, .. })
                    if holder == node && standby.is_none() && started.elapsed() < leases.ttl() * 2 =>
                {
                    std::thread::sleep(leases.ttl() / 10);
                }
                Err(LeaseError::Held { holder, .. }) => {
                    if standby.is_none() {
                        tracing::info!(node, owner = %holder, "another node owns the partitions: following it as a standby");
                        standby = Some(self.standby(true)?);
                    }
                    let owner = self.runtime.block_on(directory::addresses_of(&self.js, &self.options.prefix, &holder));
                    view.set_owner(owner);
                    self.follow_or_rebuild(&mut standby, leases.ttl() / 10)?;
                }
                Err(error) => {
                    // NATS electing or unreachable: a standby goes on following what it can.
                    tracing::warn!(node, %error, "partition 0's lease cannot be read: trying again");
                    match standby.is_some() {
                        true => self.follow_or_rebuild(&mut standby, leases.ttl() / 10)?,
                        false => std::thread::sleep(leases.ttl() / 10),
                    }
                }
            }
        }
    }

    /// Takes the partitions over with `held`: from the state a standby followed; else (no
    /// standby, or one a trim behind) from this node's directory if it wrote last, or from one
    /// rebuilt from the cluster.
    fn own(&self, standby: Option<Standby>, held: &[Lease]) -> Result<(Engine, RecoveryReport), JoinError> {
        match standby {
            Some(standby) if !self.behind(&standby) => return self.take_over(standby, held),
            Some(standby) => drop(standby), // Closes the directory before it is moved aside.
            None if self.wrote_last()? => return self.resume_as_last_writer(held),
            None => {}
        }
        let standby = self.standby(false)?;
        self.take_over(standby, held)
    }

    /// Whether this node wrote every stream's last entry (an empty stream counts as its own):
    /// its local log is then the cluster's, plus perhaps its own unacknowledged tail.
    fn wrote_last(&self) -> Result<bool, JoinError> {
        let owned = directory::owned_epochs(&self.config.data_dir);
        let (js, prefix) = (&self.js, self.options.prefix.as_str());
        let ends = self.runtime.block_on(async {
            let mut ends = Vec::new();
            for partition in 0..self.facts.partitions {
                ends.push(PartitionLog::end_epoch(js, prefix, partition).await?);
            }
            Ok::<_, JoinError>(ends)
        })?;
        Ok(ends.iter().all(|end| *end == 0) || owned.as_deref() == Some(ends.as_slice()))
    }

    /// A standby on a directory rebuilt from the cluster (an existing one is moved aside to
    /// `<dir>.void`: what it holds beyond the streams was never acknowledged): from the latest
    /// snapshot if one was published, else from the cluster's facts. It reads every stream on
    /// from there if `tails`.
    fn standby(&self, tails: bool) -> Result<Standby, JoinError> {
        let mut tries = 1;
        loop {
            match self.standby_once(tails) {
                // The streams were trimmed past the snapshot's point while this node downloaded
                // and opened it (it took longer than two snapshots' interval): a newer one.
                Err(JoinError::Behind(partition)) if tries < STANDBY_TRIES_MAX => {
                    tracing::warn!(
                        partition,
                        "the streams moved past the snapshot this node started from: taking the latest"
                    );
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    fn standby_once(&self, tails: bool) -> Result<Standby, JoinError> {
        let dir = &self.config.data_dir;
        if dir.join("CURRENT").exists() {
            // Kept aside (one generation) rather than deleted: it is this node's, not the cluster's.
            let aside = dir.with_extension("void");
            tracing::warn!(dir = %dir.display(), aside = %aside.display(), "rebuilding this node's directory from the cluster");
            let moved = std::fs::remove_dir_all(&aside)
                .or_else(|error| if error.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(error) })
                .and_then(|()| std::fs::rename(dir, &aside));
            moved.map_err(|error| JoinError::Diverged(format!("moving {} aside: {error}", dir.display())))?;
        }
        let read_after = self.build_directory()?;
        let follower = Follower::open(self.config.clone())?;
        let mut opened = Vec::new();
        if tails {
            for (partition, after) in (0..self.facts.partitions).zip(&read_after) {
                match self.runtime.block_on(Tail::open(&self.js, &self.options.prefix, partition, *after)) {
                    Ok(tail) => opened.push(tail),
                    Err(_) if self.trimmed_past(partition, *after) => return Err(JoinError::Behind(partition)),
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(Standby { merge: Merge::after(follower.last_seq()), follower, tails: opened, read_after })
    }

    /// Makes this node's (missing) directory the cluster's: the latest snapshot's files, or a
    /// new directory with the cluster's facts. Returns where each stream is read on from.
    fn build_directory(&self) -> Result<Vec<u64>, JoinError> {
        let dir = &self.config.data_dir;
        let partitions = usize::from(self.facts.partitions);
        let mut tries = 0;
        let manifest = loop {
            let Some(manifest) = self.runtime.block_on(snapshots::latest(&self.store))? else {
                drop(self.facts.create(dir)?);
                return Ok(vec![0; partitions]);
            };
            if manifest.read_after.len() != partitions {
                let found = manifest.read_after.len();
                return Err(JoinError::Diverged(format!(
                    "a snapshot of {found} partitions in a cluster of {partitions}"
                )));
            }
            // Downloaded aside and moved in whole: a node stopped halfway starts over.
            let partial = dir.with_extension("download");
            let _ = std::fs::remove_dir_all(&partial);
            match self.runtime.block_on(snapshots::download(&self.store, &manifest, &partial)) {
                Ok(()) => {
                    std::fs::rename(&partial, dir).map_err(|error| JoinError::Diverged(format!("{error}")))?;
                    break manifest;
                }
                // A newer snapshot replaced this one meanwhile (its files are deleted): take it.
                Err(error) if tries < 3 => tracing::warn!(%error, "downloading the latest snapshot: trying again"),
                Err(error) => return Err(error),
            }
            tries += 1;
        };
        let wal = Wal::open(dir, kassa_engine::Durability::Sync)?;
        if DirectoryFacts::of(&wal)?.as_ref() != Some(&self.facts) {
            return Err(JoinError::Diverged("the snapshot's directory is not this cluster's".into()));
        }
        let last_seq = wal.last_record_seq()?.unwrap_or(0);
        if last_seq != manifest.last_seq {
            return Err(JoinError::Diverged(format!(
                "a snapshot through record {last_seq}, {} named",
                manifest.last_seq
            )));
        }
        tracing::info!(last_seq, "this node's directory starts from the cluster's latest snapshot");
        Ok(manifest.read_after)
    }

    /// Follows the streams for `period`; a standby that fell behind a trim starts again from the
    /// latest snapshot.
    fn follow_or_rebuild(&self, standby: &mut Option<Standby>, period: Duration) -> Result<(), JoinError> {
        let following = standby.as_mut().expect("a standby");
        match self.follow(following, period) {
            Err(JoinError::Behind(partition)) => {
                tracing::warn!(partition, "a stream was trimmed past this standby: starting from the latest snapshot");
                *standby = None; // Closes the directory before it is moved aside.
                *standby = Some(self.standby(true)?);
                Ok(())
            }
            result => result,
        }
    }

    /// Reads the streams for `period`, applying every record that follows without a gap.
    fn follow(&self, standby: &mut Standby, period: Duration) -> Result<(), JoinError> {
        let deadline = Instant::now() + period;
        while Instant::now() < deadline {
            let mut read = 0;
            for (partition, tail) in (0u16..).zip(standby.tails.iter_mut()) {
                read += self.read_burst(partition, tail, &mut standby.merge)?;
            }
            let ready = standby.merge.ready();
            if !ready.is_empty() {
                standby.follower.apply_decoded(&ready.records, &ready.decoded)?;
            } else if read == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// Hands `merge` what partition `partition`'s stream has next, up to [`READ_BURST`]
    /// entries. A tail that NATS broke (a leader elected, a connection lost) is opened again
    /// where it stood; a broken chain or a malformed entry stops the node.
    fn read_burst(&self, partition: u16, tail: &mut Tail, merge: &mut Merge) -> Result<usize, JoinError> {
        let mut read = 0;
        while read < READ_BURST {
            let entry = match self.runtime.block_on(tail.next(Duration::from_millis(1))) {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(error @ LogError::Nats(_)) => {
                    tracing::warn!(partition, %error, "following a stream: reading it again from where it stood");
                    std::thread::sleep(Duration::from_millis(200));
                    let after = tail.position().sequence;
                    match self.runtime.block_on(Tail::open(&self.js, &self.options.prefix, partition, after)) {
                        Ok(reopened) => *tail = reopened,
                        Err(_) if self.trimmed_past(partition, after) => return Err(JoinError::Behind(partition)),
                        Err(_) => {}
                    }
                    break;
                }
                Err(_) if self.trimmed_past(partition, tail.position().sequence) => {
                    return Err(JoinError::Behind(partition));
                }
                Err(error) => return Err(error.into()),
            };
            merge.push(partition, &entry).map_err(|error| JoinError::Diverged(error.to_string()))?;
            read += 1;
        }
        Ok(read)
    }

    /// Whether a stream was trimmed past where `standby` read it: it fell a snapshot behind.
    fn behind(&self, standby: &Standby) -> bool {
        (0u16..).zip(&standby.tails).any(|(partition, tail)| self.trimmed_past(partition, tail.position().sequence))
    }

    /// Whether partition `partition`'s stream was trimmed past sequence `read` (the entry there
    /// is gone: a reader after it cannot check the chain on).
    fn trimmed_past(&self, partition: u16, read: u64) -> bool {
        let (js, prefix) = (&self.js, self.options.prefix.as_str());
        let first = self.runtime.block_on(PartitionLog::first_sequence(js, prefix, partition));
        first.is_ok_and(|first| first > read.max(1))
    }

    /// Takes every stream over from where `standby` read it, applies what was left to read,
    /// cuts after the last record applied, and opens the engine on the state.
    fn take_over(&self, standby: Standby, held: &[Lease]) -> Result<(Engine, RecoveryReport), JoinError> {
        let Standby { mut follower, mut merge, tails, read_after } = standby;
        directory::record_owned_epochs(
            &self.config.data_dir,
            &held.iter().map(|lease| lease.epoch).collect::<Vec<_>>(),
        )?;
        let (js, prefix) = (&self.js, self.options.prefix.as_str());
        let mut logs = Vec::new();
        let mut refused = None;
        for lease in held {
            let partition_index = usize::from(lease.partition);
            let after = tails.get(partition_index).map_or(read_after[partition_index], |tail| tail.position().sequence);
            let partition = lease.partition;
            let mut push = |entry: crate::Entry| {
                if let Err(error) = merge.push(partition, &entry) {
                    refused.get_or_insert(error);
                }
            };
            // NATS electing a stream's leader (4-10 s): read and fence again (entries read twice
            // are taken once), until the ride-through bound.
            let deadline = Instant::now() + crate::replica::RIDE_THROUGH;
            let log = loop {
                match self.runtime.block_on(PartitionLog::take_over(
                    js,
                    prefix,
                    partition,
                    lease.epoch,
                    after,
                    &mut push,
                )) {
                    Err(error @ LogError::Nats(_)) if Instant::now() < deadline => {
                        tracing::warn!(partition, %error, "taking the stream over: trying again");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    result => break result?,
                }
            };
            logs.push(log);
        }
        if let Some(error) = refused {
            return Err(JoinError::Diverged(error.to_string()));
        }
        let ready = merge.ready();
        follower.apply_decoded(&ready.records, &ready.decoded)?;
        if merge.waiting() > 0 {
            tracing::warn!(
                after = follower.last_seq(),
                void = merge.waiting(),
                "the old owner's last group never landed whole: its records after the cut are void"
            );
        }
        self.cut(&mut logs, follower.last_seq())?;
        let replica = StreamReplica::new(self.runtime.clone(), logs, self.js.clone(), self.options.prefix.clone());
        replica.cut_at(follower.last_seq());
        self.start_engine(follower, replica)
    }

    /// Starts the engine on `follower`'s state, copying to `replica`, and the snapshots'
    /// publisher beside it.
    fn start_engine(&self, follower: Follower, replica: StreamReplica) -> Result<(Engine, RecoveryReport), JoinError> {
        let (wal, replica) = (follower.wal().downgrade(), Arc::new(replica));
        let opened = follower.into_engine(Some(Replica(replica.clone())))?;
        let publisher = snapshots::Publisher {
            runtime: self.runtime.clone(),
            js: self.js.clone(),
            store: self.store.clone(),
            prefix: self.options.prefix.clone(),
            wal,
            scratch: self.config.data_dir.with_extension("checkpoint"),
            replica,
            name: format!("{}-{:016x}", self.options.node_id, u64::from_le_bytes(random_bytes())),
            interval: self.options.snapshot_interval,
            published: None,
            stored: None,
            tables: Default::default(),
            uploaded_bytes: 0,
        };
        std::thread::Builder::new()
            .name("kassa-snapshots".into())
            .spawn(move || publisher.run())
            .map_err(|error| JoinError::Diverged(format!("starting the snapshots' publisher: {error}")))?;
        Ok(opened)
    }

    /// The owner that wrote last comes back: reads only each stream's end, copies on the local
    /// records the streams lack, and cuts after the last one.
    fn resume_as_last_writer(&self, held: &[Lease]) -> Result<(Engine, RecoveryReport), JoinError> {
        let dir = &self.config.data_dir;
        if DirectoryFacts::of(&Wal::open(dir, kassa_engine::Durability::Sync)?)?.is_none() {
            drop(self.facts.create(dir)?); // A directory never opened by an engine, or none.
        }
        directory::record_owned_epochs(dir, &held.iter().map(|lease| lease.epoch).collect::<Vec<_>>())?;
        let follower = Follower::open(self.config.clone())?;
        // A stream trimmed with no record left holds none after the latest snapshot's.
        let covered = self.runtime.block_on(snapshots::latest(&self.store))?.map_or(0, |manifest| manifest.last_seq);
        let (logs, stream_ends) =
            self.runtime.block_on(crate::replica::take_streams_over(&self.js, &self.options, held, covered))?;
        let replica = StreamReplica::new(self.runtime.clone(), logs, self.js.clone(), self.options.prefix.clone());
        copy_missing(&replica, follower.wal(), &stream_ends)?;
        self.cut(&mut replica.logs.lock(), follower.last_seq())?;
        replica.cut_at(follower.last_seq());
        self.start_engine(follower, replica)
    }

    fn cut(&self, logs: &mut [PartitionLog], after: u64) -> Result<(), JoinError> {
        let cuts = logs.iter_mut().map(|log| log.cut(after));
        self.runtime.block_on(futures::future::try_join_all(cuts))?;
        Ok(())
    }
}
