//! A snapshotter's replica ([`StateMachine::replica_of`]) applies what its machine applies,
//! answers the same, keeps none of the paged lists, and encodes the snapshot its machine would:
//! a machine restored from it has every list back.

use super::*;

/// A harness and a replica of its machine, given every command the harness runs.
struct Mirrored {
    h: Harness,
    replica: StateMachine,
}

impl Mirrored {
    fn run_as(&mut self, principal: Principal, command: Command) -> Outcome {
        let outcome = self.h.run_as(principal.clone(), command.clone());
        let replica = &mut self.replica;
        replica.begin_batch(self.h.now);
        let mut output = CommitOutput::default();
        replica.commit(self.h.now, &[Submission::new(principal, command)], &mut output);
        replica.check_invariants();
        assert_eq!(output.outcomes, std::slice::from_ref(&outcome), "the replica answers as its machine");
        outcome
    }

    fn ok(&mut self, principal: Principal, command: Command) -> Reply {
        match self.run_as(principal, command) {
            Outcome::Applied(reply) => reply,
            other => panic!("{other:?}"),
        }
    }
}

fn open_account(account: &str) -> Command {
    Command::OpenAccount(OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 })
}

fn deposit(account: &str, amount: u64) -> Command {
    Command::Deposit(Movement { id: id(&format!("dep-{account}")), account: id(account), amount })
}

#[test]
fn a_replica_keeps_no_lists_and_encodes_its_machines_snapshot() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let replica = StateMachine::replica_of(&h.machine);
    let mut m = Mirrored { h, replica };
    let (admin, app) = (Principal::Admin, Principal::App(id("app")));

    // Settlements at m1's terminal (one approved, one declined), a tenant's hold, a split.
    let code = code_of(m.ok(admin.clone(), authorize("au1", 5_000, m.h.now + 60_000, 1)));
    m.ok(admin.clone(), settle("s1", &code, 100));
    assert!(m.run_as(admin.clone(), settle("s2", "000000", 100)).rejection().is_some());
    for account in ["b", "c", "acc-req", "acc-x", "acc-y", "acc-z"] {
        m.ok(app.clone(), open_account(account));
        m.ok(admin.clone(), deposit(account, 1_000));
    }
    let place = PlaceHold {
        id: id("h1"),
        from: id("b"),
        to: id("c"),
        amount: 200,
        currency: Currency::EUR,
        expires_at_ms: m.h.now + 600_000,
    };
    m.ok(app.clone(), Command::PlaceHold(place));
    let split = RequestSplit {
        split: id("sp1"),
        requester: id("req"),
        requester_account: id("acc-req"),
        total: 900,
        currency: Currency::EUR,
        members: members(&["x", "y", "z"]),
        shares: SplitShares::Equal,
        expires_at_ms: m.h.now + 86_400_000,
    };
    m.ok(app.clone(), Command::RequestSplit(split));
    m.ok(admin, pay("sp1", "x"));

    let (machine, replica) = (&m.h.machine, &mut m.replica);
    assert_eq!(machine.settlements_at(&id("m1"), 10, None).0, [id("s1"), id("s2")]);
    assert_eq!(machine.objects_owned(&app, ObjectKind::Hold, 10, None).0, [id("h1")]);
    assert_eq!(machine.objects_owned(&app, ObjectKind::Split, 10, None).0, [id("sp1")]);
    assert_eq!(machine.splits_of_member(&id("x"), 10, None).0, [id("sp1")]);
    assert!(replica.settlements_at(&id("m1"), 10, None).0.is_empty());
    assert!(replica.objects_owned(&app, ObjectKind::Hold, 10, None).0.is_empty());
    assert!(replica.splits_of_member(&id("x"), 10, None).0.is_empty());

    let snapshot = replica.encode_snapshot();
    assert_eq!(snapshot, m.h.machine.encode_snapshot(), "the lists are never in a snapshot");
    let restored = StateMachine::from_state(config(), State::decode_snapshot(&snapshot).unwrap());
    assert!(*restored.state() == *m.h.machine.state(), "restored from the replica's snapshot, every list is back");
    // Restored, its maps hold their entries in another order; the state's hash is the same.
    let hash = crate::runtime::state_hash(&m.replica).unwrap();
    assert_eq!(crate::runtime::state_hash(&restored).unwrap(), hash);
    assert_eq!(crate::runtime::state_hash(&m.h.machine).unwrap(), hash);
    m.ok(Principal::Admin, Command::Deposit(Movement { id: id("late"), account: id("b"), amount: 1 }));
    assert_ne!(crate::runtime::state_hash(&m.replica).unwrap(), hash, "a deposit changes the hash");
}
