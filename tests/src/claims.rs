//! A crash workload for users' claims across partitions (`state_machine/transit/claims.rs`):
//! two apps authorize codes for fresh users placed on every partition, racing each other for
//! them, some with an expiry that is refused after the claim was decided (so its claim is given
//! up). An authorization lives with its user, so each claim is decided there, the app's account
//! is checked where it lives, and the claim is noted on the home partition. The crash child runs it until it is killed; [`verify`] checks the reopened engine: every
//! acknowledged authorization is there (its app's), no refused one is, every user belongs to at
//! most one app, the one its partition and the home partition both record, and once the steps
//! between partitions are done no claim is left tentative.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kassa_engine::command::{Authorize, Command, ObjectKind, OpenAccount, Principal, Rejection, Submission};
use kassa_engine::partition::HOME_PARTITION;
use kassa_engine::{Currency, Engine, Id, Outcome};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The two apps.
const APPS: [&str; 2] = ["claims-app-1", "claims-app-2"];
/// Accounts each app opens (spread over the partitions by their ids).
const ACCOUNTS_PER_APP: usize = 6;
/// Users a worker picks among: a window that moves on as the workers go, so that fresh users
/// (asked across partitions) keep coming and several workers race for each.
const USERS_WINDOW: u64 = 24;

fn id(text: &str) -> Id {
    Id::new(text).expect("a valid id")
}

fn app(index: usize) -> Principal {
    Principal::App(id(APPS[index]))
}

fn account(app: usize, index: usize) -> Id {
    id(&format!("claims-{app}-{index}"))
}

/// One acknowledged authorization: `CLAIM <id> <user> <app index> <result>` (`A` for applied,
/// `R:<code>` for refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAck {
    /// The authorization's id.
    pub id: String,
    /// The user it acted for.
    pub user: String,
    /// The app that sent it (an index into the two apps).
    pub app: usize,
    /// `A` or `R:<code>`.
    pub result: String,
}

impl ClaimAck {
    /// The line the child prints.
    pub fn line(&self) -> String {
        format!("CLAIM {} {} {} {}", self.id, self.user, self.app, self.result)
    }

    /// Parses a line [`ClaimAck::line`] printed.
    pub fn parse(line: &str) -> Option<ClaimAck> {
        let mut fields = line.strip_prefix("CLAIM ")?.split(' ');
        let (id, user, app, result) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        let app = app.parse().ok().filter(|app: &usize| *app < APPS.len())?;
        Some(ClaimAck { id: id.into(), user: user.into(), app, result: result.into() })
    }
}

/// Opens every app's accounts (a later cycle's repeat is its owner's idempotent repeat), prints
/// `READY`, then runs `tasks` workers until the process is killed.
pub async fn run(engine: Arc<Engine>, cycle: u64, seed: u64, tasks: usize) {
    for app_index in 0..APPS.len() {
        for index in 0..ACCOUNTS_PER_APP {
            let account = account(app_index, index);
            let open = Command::OpenAccount(OpenAccount { account, currency: Currency::EUR, overdraft_limit: 0 });
            let outcome = engine.submit(Submission::new(app(app_index), open)).await.expect("setup accepted");
            let done = outcome.is_applied() || outcome == Outcome::Rejected(Rejection::AlreadyExists);
            assert!(done, "setup: {outcome:?}");
        }
    }
    println!("READY");
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            let engine = engine.clone();
            let mut rng = StdRng::seed_from_u64(seed ^ (task as u64).wrapping_mul(0x9E37_79B9));
            tokio::spawn(async move {
                for n in 0u64.. {
                    let user = format!("cu{cycle}-{}", n / 4 + rng.random_range(0..USERS_WINDOW));
                    let ack = authorize_once(&engine, &mut rng, format!("z{cycle}-{task}-{n}"), user).await;
                    // stdout is line-buffered: each acknowledged line reaches the pipe whole.
                    println!("{}", ack.line());
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

/// One authorization by a random app for `user`; a fifth of them expire before they are made
/// (refused `invalid_expiry` after the user's claim was asked).
async fn authorize_once(engine: &Engine, rng: &mut StdRng, id_text: String, user: String) -> ClaimAck {
    let app_index = rng.random_range(0..APPS.len());
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as u64;
    let expires_at_ms = if rng.random_bool(0.2) { 1 } else { now_ms + 3_600_000 };
    let authorize = Authorize {
        id: id(&id_text),
        user: id(&user),
        account: account(app_index, rng.random_range(0..ACCOUNTS_PER_APP)),
        limit: 500,
        expires_at_ms,
        nonce: rng.random(),
    };
    let outcome = engine.submit(Submission::new(app(app_index), Command::Authorize(authorize))).await;
    let outcome = outcome.expect("the engine takes the command");
    ClaimAck { id: id_text, user, app: app_index, result: crate::result_of(&outcome) }
}

/// Checks a reopened engine against every acknowledged authorization (see the module's
/// documentation); waits up to 20 s for the steps between partitions to finish first.
pub fn verify(engine: &Engine, acks: &[ClaimAck]) -> Result<(), String> {
    let partitions = engine.placement().count();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: usize = (0..partitions)
            .map(|partition| {
                let read = |machine: &kassa_engine::StateMachine| {
                    machine.transit().open_steps() + machine.transit().tentative_claims()
                };
                engine.read_partition_blocking(partition, read).expect("read")
            })
            .sum();
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{left} steps or tentative claims left 20 s after the reopen"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut apps_of_user: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for ack in acks {
        let authorization = id(&ack.id);
        let found = engine
            .read_partition_blocking(engine.placement().of_user(&id(&ack.user)), move |machine| {
                let user = machine.authorization(&authorization).map(|found| found.user.to_string());
                (user, machine.owner(ObjectKind::Authorization, &authorization).cloned())
            })
            .expect("read");
        apps_of_user.entry(&ack.user).or_default();
        if ack.result == "A" {
            if found != (Some(ack.user.clone()), Some(app(ack.app))) {
                return Err(format!("acknowledged {ack:?}, found {found:?}"));
            }
            apps_of_user.entry(&ack.user).or_default().insert(ack.app);
        } else if found.0.is_some() {
            return Err(format!("refused {ack:?}, yet the authorization exists"));
        }
    }
    for (user, apps) in apps_of_user {
        let user = id(user);
        let placed = engine.placement().of_user(&user);
        let claim = |partition| {
            let user = user.clone();
            engine.read_partition_blocking(partition, move |machine| machine.owner(ObjectKind::User, &user).cloned())
        };
        let (on_its_partition, at_home) = (claim(placed).expect("read"), claim(HOME_PARTITION).expect("read"));
        if on_its_partition != at_home {
            return Err(format!("{user}: its partition says {on_its_partition:?}, the home one {at_home:?}"));
        }
        if apps.len() > 1 {
            return Err(format!("{user} acted for by both apps: {apps:?}"));
        }
        if let Some(only) = apps.first()
            && on_its_partition != Some(app(*only))
        {
            return Err(format!("{user}: applied for app {only}, claimed by {on_its_partition:?}"));
        }
    }
    Ok(())
}
