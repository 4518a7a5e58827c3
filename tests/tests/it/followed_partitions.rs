//! Engines that each own one partition and follow the others
//! (`EngineConfig::followed_partitions`): the step towards partitions spread over cluster nodes.
//! Each owner's replica copies its records, with their positions, into a stand-in for the
//! partition's stream; a pump hands them to the engines following it (`Engine::follow`).
//! Transfers between the partitions are paid across the engines, once; a restarted follower
//! skips what it applied; a follower's state equals its owner's; and an engine that takes a
//! stopped engine's partition over (opening as its owner) completes the steps the old owner
//! left in flight, both those on their way to it and those whose answers the old owner never
//! applied (`Engine::resend_open_messages`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kassa_engine::command::{Command, Movement, OpenAccount, Submission, Transfer};
use kassa_engine::runtime::{FollowError, Follower, LogReplica, Replica, ReplicaRecord, state_hash};
use kassa_engine::wal::{Wal, WalRecord, decode_record};
use kassa_engine::{Currency, Durability, Engine, EngineConfig, Id, Outcome, SubmitError};

const ACCOUNTS: usize = 16;
const DEPOSIT: i64 = 10_000;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn account(index: usize) -> Id {
    id(&format!("acct-{index}"))
}

/// A record as an owner copied it: its position and its encoding.
type Copied = (u64, Vec<u8>);

/// Each partition's records as its owners copied them, in order.
#[derive(Default)]
struct Streams(Mutex<Vec<Vec<Copied>>>);

/// An owner's replica: appends each record to its partition's stream, checking that positions
/// run on without a gap or a repeat.
struct StreamCopy(Arc<Streams>);

impl LogReplica for StreamCopy {
    fn replicate(&self, records: &[ReplicaRecord<'_>]) -> Result<(), String> {
        let mut streams = self.0.0.lock().unwrap();
        for record in records {
            let position = record.position;
            let stream = &mut streams[usize::from(record.partition)];
            assert_eq!(position, stream.len() as u64 + 1, "partition {} numbered on", record.partition);
            stream.push((position, record.bytes.to_vec()));
        }
        Ok(())
    }
}

/// The engine at one slot, and the partition it follows.
type Slot = Arc<RwLock<Option<Arc<Engine>>>>;

/// Hands every stream's records to the engine of each slot following it, from the stream's
/// start whenever the slot's engine changes (a restarted engine skips what it applied).
fn pump(streams: Arc<Streams>, slots: Vec<(Slot, u16)>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut cursors: Vec<(usize, usize)> = vec![(0, 0); slots.len()];
        while !stop.load(Ordering::Relaxed) {
            let mut idle = true;
            for ((slot, partition), (cursor, engine_id)) in slots.iter().zip(&mut cursors) {
                let Some(engine) = slot.read().unwrap().clone() else { continue };
                if engine.followed_position(*partition).is_none() {
                    continue; // It owns the partition now.
                }
                let this_engine = Arc::as_ptr(&engine) as usize;
                if *engine_id != this_engine {
                    (*cursor, *engine_id) = (0, this_engine);
                }
                let next: Vec<Copied> = streams.0.lock().unwrap()[usize::from(*partition)][*cursor..].to_vec();
                for (position, bytes) in next {
                    let record = decode_record(&bytes).unwrap();
                    assert_eq!(record.position, position, "the record names its position");
                    match engine.follow(record) {
                        Ok(_) => *cursor += 1,
                        // Taken over since the check above: its records are its own now.
                        Err(FollowError::NotFollowed { .. }) => break,
                        Err(error) => panic!("following partition {partition}: {error}"),
                    }
                    idle = false;
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    })
}

fn config(dir: &std::path::Path, followed: &[u16], streams: &Arc<Streams>) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.partitions = streams.0.lock().unwrap().len() as u16;
    config.tick_interval_ms = 0;
    config.snapshot_every_commands = 40;
    // Placement is keyed from the server key: both engines must place accounts alike.
    config.secret_key = Some([7; 32]);
    config.followed_partitions = followed.to_vec();
    config.replica = Some(Replica(Arc::new(StreamCopy(streams.clone()))));
    config
}

/// Submits and waits at most 20 s for the answer (a credit nobody applies would block forever).
fn submit(engine: &Engine, submission: Submission) -> Result<Outcome, SubmitError> {
    let (answer, answered) = std::sync::mpsc::channel();
    engine.submit_with(submission, move |outcome| drop(answer.send(outcome)))?;
    answered.recv_timeout(Duration::from_secs(20)).expect("answered within 20 s")
}

fn transfer(name: &str, from: usize, to: usize, amount: u64) -> Submission {
    let (from, to) = (account(from), account(to));
    Submission::admin(Command::Transfer(Transfer { id: id(name), from, to, amount, currency: Currency::EUR }))
}

/// One engine per partition: `engine(p)` owns partition `p` and follows the others.
struct Ring {
    /// Where accounts live (every engine places them alike), taken from engine 0 at first use.
    placement: std::sync::OnceLock<kassa_engine::partition::Placement>,
    dirs: Vec<tempfile::TempDir>,
    streams: Arc<Streams>,
    slots: Vec<Slot>,
    stop: Arc<AtomicBool>,
    pump: Option<std::thread::JoinHandle<()>>,
}

impl Ring {
    fn open(partitions: u16) -> Ring {
        let count = usize::from(partitions);
        let streams = Arc::new(Streams(Mutex::new(vec![Vec::new(); count])));
        let dirs = (0..count).map(|_| tempfile::tempdir().unwrap()).collect();
        let slots: Vec<Slot> = (0..count).map(|_| Slot::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let wiring = (0..partitions)
            .flat_map(|owner| (0..partitions).filter(move |other| *other != owner).map(move |other| (owner, other)))
            .map(|(owner, other)| (slots[usize::from(owner)].clone(), other))
            .collect();
        let pump = Some(pump(streams.clone(), wiring, stop.clone()));
        let ring = Ring { placement: std::sync::OnceLock::new(), dirs, streams, slots, stop, pump };
        for owner in 0..partitions {
            ring.start(owner, &[owner]);
        }
        ring
    }

    fn partitions(&self) -> u16 {
        self.slots.len() as u16
    }

    /// Opens engine `slot` on its directory, owning `owned` and following the rest.
    fn start(&self, slot: u16, owned: &[u16]) {
        let followed: Vec<u16> = (0..self.partitions()).filter(|partition| !owned.contains(partition)).collect();
        let engine = Engine::open(config(self.dirs[usize::from(slot)].path(), &followed, &self.streams)).unwrap();
        *self.slots[usize::from(slot)].write().unwrap() = Some(Arc::new(engine));
    }

    fn engine(&self, slot: u16) -> Arc<Engine> {
        self.slots[usize::from(slot)].read().unwrap().clone().expect("started")
    }

    /// Takes engine `slot` out of the ring: the pump hands it nothing more.
    fn take(&self, slot: u16) -> Arc<Engine> {
        self.slots[usize::from(slot)].write().unwrap().take().expect("started")
    }

    /// Shuts engine `slot` down (everything queued made durable) and forgets it.
    fn stop(&self, slot: u16) {
        self.take(slot).shutdown();
    }

    /// The partition of account `index` (engine `p` owns partition `p` unless a test moved it).
    fn partition_of(&self, index: usize) -> u16 {
        self.placement.get_or_init(|| self.engine(0).placement().clone()).of_account(&account(index))
    }

    /// The accounts placed on `partition`.
    fn accounts_on(&self, partition: u16) -> Vec<usize> {
        (0..ACCOUNTS).filter(|index| self.partition_of(*index) == partition).collect()
    }

    /// The last record of `partition` in its stream.
    fn stream_end(&self, partition: u16) -> u64 {
        self.streams.0.lock().unwrap()[usize::from(partition)].len() as u64
    }

    /// Waits until every engine followed every record of the partitions it follows and no
    /// money is in transit on any partition (`owners[p]`: the engine owning `p`).
    fn quiesce(&self, owners: &[u16]) {
        let started = Instant::now();
        loop {
            let engines: Vec<Arc<Engine>> = self.slots.iter().filter_map(|slot| slot.read().unwrap().clone()).collect();
            let caught_up = engines.iter().all(|engine| {
                let followed = (0..self.partitions())
                    .filter_map(|partition| engine.followed_position(partition).map(|position| (partition, position)));
                followed.into_iter().all(|(partition, position)| position == self.stream_end(partition))
            });
            let in_transit: u128 = (0..self.partitions())
                .map(|partition| in_transit(&self.engine(owners[usize::from(partition)]), partition))
                .sum();
            if caught_up && in_transit == 0 {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the engines did not settle");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every account's balance, read from its partition's owner (`owners[p]`).
    fn balances(&self, owners: &[u16]) -> Vec<i64> {
        (0..ACCOUNTS)
            .map(|index| {
                let partition = self.partition_of(index);
                let read = move |machine: &kassa_engine::StateMachine| {
                    machine.check_invariants();
                    machine.account(&account(index)).unwrap().posted
                };
                self.engine(owners[usize::from(partition)]).read_partition_blocking(partition, read).unwrap()
            })
            .collect()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
        // Before their directories go.
        for slot in &self.slots {
            if let Some(engine) = slot.write().unwrap().take() {
                engine.shutdown();
            }
        }
    }
}

/// The money in `partition`'s transit, read on `engine`, its owner.
fn in_transit(engine: &Engine, partition: u16) -> u128 {
    let read = |machine: &kassa_engine::StateMachine| machine.transit().in_flight().values().sum::<u128>();
    engine.read_partition_blocking(partition, read).unwrap()
}

/// Opens every account on its owner (checking another engine refuses it) with a deposit.
fn open_accounts(ring: &Ring) {
    let partitions = ring.partitions();
    for index in 0..ACCOUNTS {
        let open =
            Command::OpenAccount(OpenAccount { account: account(index), currency: Currency::EUR, overdraft_limit: 0 });
        let partition = ring.partition_of(index);
        let elsewhere = submit(&ring.engine((partition + 1) % partitions), Submission::admin(open.clone()));
        assert_eq!(elsewhere, Err(SubmitError::NotOwner { partition }));
        assert!(submit(&ring.engine(partition), Submission::admin(open)).unwrap().is_applied());
        let deposit = Movement { id: id(&format!("d-{index}")), account: account(index), amount: DEPOSIT as u64 };
        let deposited = submit(&ring.engine(partition), Submission::admin(Command::Deposit(deposit))).unwrap();
        assert!(deposited.is_applied());
    }
    for partition in 0..partitions {
        let placed = (0..ACCOUNTS).filter(|index| ring.partition_of(*index) == partition).count();
        assert!(placed >= 2, "accounts on every partition: {placed} on {partition}");
    }
}

/// A transfer by account indexes: payer, payee, amount.
type Paid = (usize, usize, u64);

/// A caller waiting for its outcome on a thread of its own.
type Caller = std::thread::JoinHandle<Result<Outcome, SubmitError>>;

/// Applies a transfer to the balances expected.
fn pay(expected: &mut [i64], (from, to, amount): Paid) {
    expected[from] -= amount as i64;
    expected[to] += amount as i64;
}

/// `count` transfers named `{round}-{n}`, submitted from one thread per partition to its owner
/// (`owners[p]`), each paying another account: most cross partitions. Returns the balances
/// expected.
fn transfer_round(ring: &Ring, owners: &[u16], round: &str, count: usize, mut expected: Vec<i64>) -> Vec<i64> {
    let applied: Vec<Vec<Paid>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..ring.partitions())
            .map(|partition| {
                let owner = owners[usize::from(partition)];
                scope.spawn(move || {
                    let mut applied = Vec::new();
                    for n in (0..count).filter(|n| ring.partition_of(n % ACCOUNTS) == partition) {
                        let (from, to, amount) = (n % ACCOUNTS, (n * 7 + 3) % ACCOUNTS, 1 + (n as u64 * 13) % 97);
                        if from == to {
                            continue;
                        }
                        let outcome = submit(&ring.engine(owner), transfer(&format!("{round}-{n}"), from, to, amount));
                        assert!(outcome.as_ref().is_ok_and(Outcome::is_applied), "{round}-{n}: {outcome:?}");
                        applied.push((from, to, amount));
                    }
                    applied
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().unwrap()).collect()
    });
    for transfer in applied.into_iter().flatten() {
        pay(&mut expected, transfer);
    }
    expected
}

/// Transfers from `payers` to `payees` (25 each, named `{round}-{n}`), submitted to `engine`
/// from a thread each: the callers wait while their credits are on their way.
fn waiting_transfers(
    engine: &Arc<Engine>,
    round: &str,
    payers: &[usize],
    payees: &[usize],
) -> (Vec<Paid>, Vec<Caller>) {
    let transfers: Vec<Paid> = payers.iter().zip(payees.iter().cycle()).map(|(from, to)| (*from, *to, 25)).collect();
    let callers = transfers
        .iter()
        .enumerate()
        .map(|(n, (from, to, amount))| {
            let (engine, submission) = (engine.clone(), transfer(&format!("{round}-{n}"), *from, *to, *amount));
            std::thread::spawn(move || submit(&engine, submission))
        })
        .collect();
    (transfers, callers)
}

/// Retries each transfer on `engine` (same ids): each answers as applied, once.
fn retry(engine: &Engine, round: &str, transfers: &[Paid], expected: &mut [i64]) {
    for (n, (from, to, amount)) in transfers.iter().enumerate() {
        let outcome = submit(engine, transfer(&format!("{round}-{n}"), *from, *to, *amount));
        assert!(outcome.as_ref().is_ok_and(Outcome::is_applied), "{round}-{n}: {outcome:?}");
        pay(expected, (*from, *to, *amount));
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn two_engines_each_owning_a_partition_pay_between_them_once() {
    let ring = Ring::open(2);
    let owners = [0, 1];
    open_accounts(&ring);
    let expected = transfer_round(&ring, &owners, "first", 120, vec![DEPOSIT; ACCOUNTS]);
    ring.quiesce(&owners);
    assert_eq!(ring.balances(&owners), expected);
    // A followed partition answers no read here: its owner does.
    let read = ring.engine(0).read_partition_blocking(1, |machine| machine.position());
    assert_eq!(read, Err(SubmitError::NotOwner { partition: 1 }));

    // A restarted follower is handed every record again and skips what it applied.
    ring.stop(1);
    ring.start(1, &[1]);
    let expected = transfer_round(&ring, &owners, "second", 120, expected);
    ring.quiesce(&owners);
    assert_eq!(ring.balances(&owners), expected);

    // Each follower's state is its owner's, record for record.
    ring.stop(0);
    ring.stop(1);
    let reopened: Vec<Follower> =
        (0..2).map(|slot| Follower::open(config(ring.dirs[slot].path(), &[], &ring.streams)).unwrap()).collect();
    for partition in 0..2 {
        let hashes: Vec<[u8; 32]> =
            reopened.iter().map(|follower| state_hash(follower.machine(partition).unwrap()).unwrap()).collect();
        assert_eq!(hashes[0], hashes[1], "partition {partition} on its owner and on its follower");
    }
}

#[test]
fn a_partition_taken_over_completes_the_credits_on_their_way_to_it() {
    let ring = Ring::open(2);
    open_accounts(&ring);
    let mut expected = transfer_round(&ring, &[0, 1], "first", 60, vec![DEPOSIT; ACCOUNTS]);
    ring.quiesce(&[0, 1]);
    // Engine 1 stops. Engine 0 goes on debiting its payers into transit for payees on
    // partition 1, whose credits nobody applies: their callers wait.
    ring.stop(1);
    let engine = ring.take(0);
    let (late, callers) = waiting_transfers(&engine, "late", &ring.accounts_on(0), &ring.accounts_on(1));
    wait_until("the credits left", || in_transit(&engine, 0) == 25 * late.len() as u128);
    // Engine 0 stops too (its callers hear it stopped), then opens as the owner of both
    // partitions: opening sends the open credits again, now to a partition it owns.
    engine.shutdown();
    drop(engine);
    for caller in callers {
        assert_eq!(caller.join().unwrap(), Err(SubmitError::ShuttingDown));
    }
    ring.start(0, &[0, 1]);
    retry(&ring.engine(0), "late", &late, &mut expected);
    assert_eq!(ring.balances(&[0, 0]), expected);
    assert_eq!(in_transit(&ring.engine(0), 0) + in_transit(&ring.engine(0), 1), 0, "transit drained");
    assert_eq!(expected.iter().sum::<i64>(), DEPOSIT * ACCOUNTS as i64, "money conserved");
}

/// Three engines after a first round of transfers, engine 1 taken out of the ring (it hears
/// nothing more): the ring, the balances expected, and engine 1.
fn three_engines_one_deaf() -> (Ring, Vec<i64>, Arc<Engine>) {
    let ring = Ring::open(3);
    open_accounts(&ring);
    let expected = transfer_round(&ring, &[0, 1, 2], "first", 90, vec![DEPOSIT; ACCOUNTS]);
    ring.quiesce(&[0, 1, 2]);
    let deaf = ring.take(1);
    (ring, expected, deaf)
}

#[test]
fn a_new_owner_hears_again_the_answers_its_predecessor_never_applied() {
    // Engine 1 stops hearing the others, then pays payees on partition 2. Engine 2 credits
    // them and answers; engine 1 never applies the answers, and engine 0, which follows both,
    // drops them (partition 1 is not its own yet).
    let (ring, mut expected, deaf) = three_engines_one_deaf();
    let (payers, payees) = (ring.accounts_on(1), ring.accounts_on(2));
    let (late, callers) = waiting_transfers(&deaf, "late", &payers, &payees);
    let mut credited = expected.clone();
    for transfer in &late {
        pay(&mut credited, *transfer);
    }
    wait_until("partition 2 credited the payees", || {
        payees.iter().all(|&index| {
            let read = move |machine: &kassa_engine::StateMachine| machine.account(&account(index)).unwrap().posted;
            ring.engine(2).read_partition_blocking(2, read).unwrap() == credited[index]
        })
    });
    deaf.shutdown();
    drop(deaf);
    for caller in callers {
        assert_eq!(caller.join().unwrap(), Err(SubmitError::ShuttingDown));
    }
    // Engine 0 takes partition 1 over: it follows to the stream's end, opens as its owner and
    // logs the resend, which engine 2 follows and answers again.
    wait_until("engine 0 followed partitions 1 and 2", || {
        let engine = ring.engine(0);
        [1, 2].iter().all(|partition| engine.followed_position(*partition) == Some(ring.stream_end(*partition)))
    });
    ring.stop(0);
    ring.start(0, &[0, 1]);
    ring.engine(0).resend_open_messages(1).unwrap();
    retry(&ring.engine(0), "late", &late, &mut expected);
    let owners = [0, 0, 2];
    ring.quiesce(&owners);
    assert_eq!(ring.balances(&owners), expected);
    assert_eq!(expected, credited);
    assert_eq!(expected.iter().sum::<i64>(), DEPOSIT * ACCOUNTS as i64, "money conserved");
}

#[test]
fn a_partition_taken_over_in_place_completes_what_its_old_owner_left_in_flight() {
    // Engine 1 stops hearing the others. It pays payees on partition 2, which credits them and
    // answers (engine 0 drops the answers: partition 1 is not its own yet); engine 0 pays
    // payees on partition 1, whose credits engine 1 never hears.
    let (ring, mut expected, deaf) = three_engines_one_deaf();
    let on = |partition| ring.accounts_on(partition);
    let (outbound, outbound_callers) = waiting_transfers(&deaf, "out", &on(1), &on(2));
    let (inbound, inbound_callers) = waiting_transfers(&ring.engine(0), "in", &on(0), &on(1));
    let mut credited = expected.clone();
    for transfer in &outbound {
        pay(&mut credited, *transfer);
    }
    wait_until("partition 2 credited the payees", || {
        on(2).iter().all(|&index| {
            let read = move |machine: &kassa_engine::StateMachine| machine.account(&account(index)).unwrap().posted;
            ring.engine(2).read_partition_blocking(2, read).unwrap() == credited[index]
        })
    });
    wait_until("engine 0's credits left", || in_transit(&ring.engine(0), 0) == 25 * inbound.len() as u128);
    deaf.shutdown();
    drop(deaf);
    for caller in outbound_callers {
        assert_eq!(caller.join().unwrap(), Err(SubmitError::ShuttingDown));
    }
    // Engine 0 takes partition 1 over without stopping, once it followed it to its end.
    wait_until("engine 0 followed partitions 1 and 2", || {
        let engine = ring.engine(0);
        [1, 2].iter().all(|partition| engine.followed_position(*partition) == Some(ring.stream_end(*partition)))
    });
    ring.engine(0).take_over(1).unwrap();
    assert_eq!(ring.engine(0).followed_position(1), None);
    // Its callers, still waiting, hear their transfers applied; the old owner's, retried.
    for (caller, transfer) in inbound_callers.into_iter().zip(&inbound) {
        assert!(caller.join().unwrap().is_ok_and(|outcome| outcome.is_applied()));
        pay(&mut expected, *transfer);
    }
    retry(&ring.engine(0), "out", &outbound, &mut expected);
    let owners = [0, 0, 2];
    ring.quiesce(&owners);
    assert_eq!(ring.balances(&owners), expected);
    // Partition 1 goes on with its new owner, engine 2 following it.
    let expected = transfer_round(&ring, &owners, "after", 90, expected);
    ring.quiesce(&owners);
    assert_eq!(ring.balances(&owners), expected);
    assert_eq!(expected.iter().sum::<i64>(), DEPOSIT * ACCOUNTS as i64, "money conserved");
}

#[test]
fn recovery_refuses_a_partition_whose_records_skip_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.tick_interval_ms = 0;
    let engine = Engine::open(config.clone()).unwrap();
    let open = Command::OpenAccount(OpenAccount { account: account(0), currency: Currency::EUR, overdraft_limit: 0 });
    assert!(submit(&engine, Submission::admin(open)).unwrap().is_applied());
    engine.shutdown();
    drop(engine);
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    let mut last = None;
    wal.replay(0, |record| last = Some(record)).unwrap();
    let last = last.expect("a record");
    // The next record in the log's numbering, but one past the partition's next position.
    let skipping = WalRecord { seq: last.seq + 1, position: last.position + 2, ..last };
    wal.append(&[skipping.encode()]).unwrap();
    drop(wal);
    let error = Engine::open(config).err().expect("refused").to_string();
    assert!(error.contains("missing or repeated"), "{error}");
    // `kassa verify` says so too.
    let verified = kassa_engine::wal::verify::verify_data_dir(dir.path()).expect_err("refused").to_string();
    assert!(verified.contains("where") && verified.contains("was expected"), "{verified}");
}
