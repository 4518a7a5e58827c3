//! The reference stream message by message: what the home partition registers reaches every
//! other partition once and in order; a copy is ignored, a gap is filled from
//! what the home partition kept, and nothing refused or repeated travels.

use crate::command::{
    Command, OpenAccount, Outcome, Principal, RegisterMerchant, RegisterOperator, RegisterTerminal, Rejection,
    Submission,
};
use crate::partition::{Outgoing, TransitMessage};
use crate::state_machine::tests::{config, id};
use crate::state_machine::{CommitOutput, StateMachine, missed_references};
use crate::types::{Currency, GeoPoint, Id};

const NOW: u64 = 1_700_000_000_000;

fn commit(
    machine: &mut StateMachine,
    principal: &Principal,
    messages: &[TransitMessage],
    commands: Vec<Command>,
) -> CommitOutput {
    let mut output = CommitOutput::default();
    let submissions: Vec<Submission> =
        commands.into_iter().map(|command| Submission::new(principal.clone(), command)).collect();
    machine.commit_with_messages(NOW, messages, &submissions, &mut output);
    machine.check_invariants();
    output
}

fn sent_to(output: &CommitOutput, partition: u16) -> Vec<TransitMessage> {
    let to_partition =
        |Outgoing { destination, message }: &Outgoing| (*destination == partition).then(|| message.clone());
    output.outgoing.iter().filter_map(to_partition).collect()
}

/// An account id the home partition of `machine`'s directory holds.
fn account_at_home(machine: &StateMachine) -> Id {
    (0..).map(|n| id(&format!("till-{n}"))).find(|id| machine.config().placement().of_account(id) == 0).unwrap()
}

fn registrations(account: &Id) -> Vec<Command> {
    vec![
        Command::OpenAccount(OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 }),
        Command::RegisterMerchant(RegisterMerchant { merchant: id("m1"), account: account.clone() }),
        Command::RegisterTerminal(RegisterTerminal {
            terminal: id("t1"),
            merchant: id("m1"),
            mac_key: Some(vec![7; 16]),
            location: Some(GeoPoint { latitude_e6: 52_520_000, longitude_e6: 13_405_000 }),
        }),
        Command::RegisterOperator(RegisterOperator { operator: id("o1"), merchant: id("m1") }),
    ]
}

#[test]
fn every_partition_applies_what_home_registers_once_and_in_order() {
    let [mut home, mut p1, mut p2] = [0, 1, 2].map(|partition| StateMachine::new(config().for_partition(partition, 3)));
    let merchant = Principal::Merchant(id("m1"));
    let account = account_at_home(&home);
    let registered = commit(&mut home, &merchant, &[], registrations(&account));
    assert!(registered.outcomes.iter().all(Outcome::is_applied), "{:?}", registered.outcomes);
    assert!(sent_to(&registered, 0).is_empty(), "home sends itself nothing");
    let references = sent_to(&registered, 1);
    assert_eq!(references, sent_to(&registered, 2));
    let numbers: Vec<u64> = references
        .iter()
        .map(|message| match message {
            TransitMessage::Reference(reference) => reference.number,
            other => panic!("not a reference: {other:?}"),
        })
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(home.reference().applied_through(), 3);

    // A repeat and a refusal send nothing.
    let again = commit(&mut home, &merchant, &[], registrations(&account)[1..].to_vec());
    assert!(again.outcomes.iter().all(Outcome::is_applied) && again.outgoing.is_empty());
    let unknown = RegisterOperator { operator: id("o2"), merchant: id("m9") };
    let refused = commit(&mut home, &Principal::Admin, &[], vec![Command::RegisterOperator(unknown)]);
    assert_eq!(refused.outcomes, [Outcome::Rejected(Rejection::MerchantNotFound)]);
    assert!(refused.outgoing.is_empty());

    // Applied as registered, making no events and no messages; a copy is ignored.
    let applied = commit(&mut p1, &Principal::Admin, &references, vec![]);
    assert!(applied.events.is_empty() && applied.outgoing.is_empty());
    assert_eq!(p1.terminal(&id("t1")), home.terminal(&id("t1")));
    assert_eq!(p1.operator(&id("o1")), home.operator(&id("o1")));
    assert_eq!(p1.reference_digest(), home.reference_digest());
    assert_ne!(p1.reference_digest(), p2.reference_digest());
    commit(&mut p1, &Principal::Admin, &references, vec![]);
    assert_eq!((p1.reference().applied_through(), p1.reference_digest()), (3, home.reference_digest()));

    // A partition that applied only the first (a crash lost the rest on the way) is sent what
    // it missed, in order, from what the home partition kept, when the engine opens.
    commit(&mut p2, &Principal::Admin, &references[..1], vec![]);
    assert_eq!(p2.reference().applied_through(), 1);
    let machines = [home, p1, p2];
    let missed = missed_references(&machines);
    assert!(missed.iter().all(|outgoing| outgoing.destination == 2), "partition 1 missed nothing");
    let missed: Vec<TransitMessage> = missed.into_iter().map(|outgoing| outgoing.message).collect();
    assert_eq!(missed, references[1..]);
    let [home, _, mut p2] = machines;
    commit(&mut p2, &Principal::Admin, &missed, vec![]);
    assert_eq!(p2.reference_digest(), home.reference_digest());
    assert!(home.reference().missed_by(3).is_empty() && home.reference().missed_by(99).is_empty());
}

#[test]
fn one_partition_keeps_no_reference_stream() {
    let mut machine = StateMachine::new(config());
    let account = account_at_home(&machine);
    let output = commit(&mut machine, &Principal::Admin, &[], registrations(&account));
    assert!(output.outcomes.iter().all(Outcome::is_applied));
    assert!(output.outgoing.is_empty());
    assert!(machine.reference().missed_by(0).is_empty());
}
