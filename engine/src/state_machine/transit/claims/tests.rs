//! Users' claims across two partitions, message by message: a claim is decided on the user's
//! partition, kept only by a command that applied, given up by a refused one, and every message
//! applied twice acts once.

use crate::authority::Read;
use crate::command::{Authorize, Command, ObjectKind, OpenAccount, Outcome, Principal, Rejection, Reply, Submission};
use crate::partition::TransitMessage;
use crate::state_machine::tests::id;
use crate::state_machine::transit::tests::{NOW, account_on, machines, messages};
use crate::state_machine::{ClaimForRead, CommitOutput, KnownClaims, ReadVerdict, StateMachine};
use crate::types::{Currency, Id};

fn app(name: &str) -> Principal {
    Principal::App(id(name))
}

fn commit_as(
    machine: &mut StateMachine,
    messages: &[TransitMessage],
    commands: &[(Principal, Command)],
) -> CommitOutput {
    let batch: Vec<Submission> =
        commands.iter().map(|(principal, command)| Submission::new(principal.clone(), command.clone())).collect();
    let mut output = CommitOutput::default();
    machine.commit_with_messages(NOW, messages, &batch, &mut output);
    machine.check_invariants();
    output
}

fn deliver(machine: &mut StateMachine, from: &CommitOutput) -> CommitOutput {
    commit_as(machine, &messages(from), &[])
}

/// A user id whose claim lives on `partition` of 2.
fn user_on(machine: &StateMachine, partition: u16, name: &str) -> Id {
    (0..).map(|n| id(&format!("{name}-{n}"))).find(|id| machine.config().placement().of_user(id) == partition).unwrap()
}

/// App `owner`'s account on `machine`'s partition.
fn opened(machine: &mut StateMachine, owner: &Principal, name: &str) -> Id {
    let partition = machine.config.partition;
    let account = account_on(machine, partition, name);
    let open =
        Command::OpenAccount(OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 });
    assert!(commit_as(machine, &[], &[(owner.clone(), open)]).outcomes[0].is_applied());
    account
}

fn authorize(id_text: &str, user: &Id, account: &Id, expires_at_ms: u64) -> Command {
    let (id, user, account) = (id(id_text), user.clone(), account.clone());
    Command::Authorize(Authorize { id, user, account, limit: 500, expires_at_ms, nonce: 7 })
}

/// An app's command for `user` that passes the rules and applies (`applies`: a contact request),
/// or is refused after them (the user as its own contact: `invalid_field`); applied on the home
/// partition, whichever partition holds the user's claim.
fn acts_for(user: &Id, applies: bool) -> Command {
    let contact = if applies { id("friend") } else { user.clone() };
    Command::AddContact(crate::command::AddContact { user: user.clone(), contact })
}

fn applied(outcome: &Outcome) -> bool {
    outcome.is_applied()
}

fn owner(machine: &StateMachine, user: &Id) -> Option<Principal> {
    machine.state.owners.get(&(ObjectKind::User, user.clone())).cloned()
}

fn authorized(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Applied(Reply::Authorized { .. }))
}

#[test]
fn a_claim_is_made_on_the_users_partition_and_kept_once_its_command_applied() {
    let [mut p0, mut p1] = machines();
    let (a, user) = (app("a"), user_on(&p0, 1, "u"));

    let asked = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&user, true))]);
    assert_eq!(asked.pending.len(), 1, "the command waits for the user's partition");
    let claim = messages(&asked);
    assert!(matches!(&claim[..], [TransitMessage::Claim(claim)] if claim.user == user && claim.app == a));
    let resent: Vec<TransitMessage> = p0.transit().open_messages().into_iter().map(|sent| sent.message).collect();
    assert_eq!(resent, claim, "sent again after a restart until answered");

    // Asked twice (a resend after a crash): one tentative claim, answered alike.
    let answer = commit_as(&mut p1, &claim, &[]);
    assert_eq!(messages(&answer), messages(&commit_as(&mut p1, &claim, &[])));
    assert!(matches!(&messages(&answer)[..], [TransitMessage::Claimed { owner, confirmed: false, .. }] if *owner == a));
    assert_eq!(owner(&p1, &user), None, "tentative until the command is decided");

    let decided = deliver(&mut p0, &answer);
    assert!(applied(&decided.completed[0].1), "{:?}", decided.completed);
    assert_eq!(owner(&p0, &user), Some(a.clone()), "kept here: claims never change");
    let end = messages(&decided);
    assert!(matches!(&end[..], [TransitMessage::ClaimEnded(end)] if end.kept));
    assert!(deliver(&mut p0, &answer).completed.is_empty(), "a repeated answer changes nothing");
    let resent: Vec<TransitMessage> = p0.transit().open_messages().into_iter().map(|sent| sent.message).collect();
    assert_eq!(resent, end, "the end is sent again until heard");

    let heard = deliver(&mut p1, &decided);
    assert_eq!(owner(&p1, &user), Some(a.clone()));
    assert_eq!(messages(&heard), messages(&deliver(&mut p1, &decided)), "an end is answered every time");
    deliver(&mut p0, &heard);
    assert!(p0.transit().open_messages().is_empty(), "nothing left to send");

    // Known here now: the next command for the user asks nothing.
    let again = commit_as(&mut p0, &[], &[(a, acts_for(&user, true))]);
    assert!(applied(&again.outcomes[0]) && messages(&again).is_empty());
}

#[test]
fn a_refused_command_gives_its_claim_up_and_another_app_may_claim_the_user() {
    let [mut p0, mut p1] = machines();
    let (a, b, user) = (app("a"), app("b"), user_on(&p0, 1, "u"));

    // Passes the rules, refused (the user as its own contact): the claim made for it is given up.
    let asked = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&user, false))]);
    let answer = commit_as(&mut p1, &messages(&asked), &[]);
    let decided = deliver(&mut p0, &answer);
    assert_eq!(decided.completed[0].1, Outcome::Rejected(Rejection::InvalidField));
    assert!(matches!(&messages(&decided)[..], [TransitMessage::ClaimEnded(end)] if !end.kept));
    deliver(&mut p0, &deliver(&mut p1, &decided));
    assert_eq!((owner(&p0, &user), owner(&p1, &user)), (None, None), "the refusal changed nothing");
    assert_eq!(p1.transit().tentative_owner(&user), None);

    let asked = commit_as(&mut p0, &[], &[(b.clone(), acts_for(&user, true))]);
    let decided = deliver(&mut p0, &commit_as(&mut p1, &messages(&asked), &[]));
    assert!(applied(&decided.completed[0].1));
    deliver(&mut p1, &decided);
    assert_eq!((owner(&p0, &user), owner(&p1, &user)), (Some(b.clone()), Some(b)));
}

#[test]
fn another_apps_command_waits_behind_the_claim_and_is_refused_once_it_is_kept() {
    let [mut p0, mut p1] = machines();
    let (a, b, user) = (app("a"), app("b"), user_on(&p0, 1, "u"));

    let asked = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&user, true)), (b.clone(), acts_for(&user, true))]);
    assert_eq!(asked.pending.len(), 2, "b's command waits behind a's claim");
    assert_eq!(messages(&asked).len(), 1, "one claim asked for the user");
    let decided = deliver(&mut p0, &commit_as(&mut p1, &messages(&asked), &[]));
    assert_eq!(decided.completed.len(), 2);
    assert!(applied(&decided.completed[0].1));
    assert_eq!(
        decided.completed[1].1,
        Outcome::Rejected(Rejection::Forbidden),
        "decided after a's, as on one partition"
    );
}

#[test]
fn a_final_claim_of_another_app_refuses_the_command_and_is_kept_without_an_end() {
    let [mut p0, mut p1] = machines();
    let (a, b, user) = (app("a"), app("b"), user_on(&p0, 1, "u"));
    // The user is b's on its own partition (a command of b's applied there).
    let claimed = commit_as(&mut p1, &[], &[(b.clone(), acts_for(&user, true))]);
    // A local claim asks nothing; the home partition is told (not delivered here: it asks).
    let noted = matches!(&messages(&claimed)[..], [TransitMessage::ClaimNoted(_)]);
    assert!(applied(&claimed.outcomes[0]) && noted, "{claimed:?}");

    let asked = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&user, true))]);
    let decided = deliver(&mut p0, &commit_as(&mut p1, &messages(&asked), &[]));
    assert_eq!(decided.completed[0].1, Outcome::Rejected(Rejection::Forbidden));
    assert!(messages(&decided).is_empty(), "no tentative claim to end");
    assert_eq!(owner(&p0, &user), Some(b), "a final answer is kept");

    let again = commit_as(&mut p0, &[], &[(a, acts_for(&user, true))]);
    assert_eq!(again.outcomes[0], Outcome::Rejected(Rejection::Forbidden));
    assert!(messages(&again).is_empty(), "refused here without asking");
}

#[test]
fn the_admin_and_users_of_the_partition_ask_nothing() {
    let [mut p0, _] = machines();
    let a = app("a");
    let (elsewhere, here) = (user_on(&p0, 1, "u"), user_on(&p0, 0, "v"));
    let admin = commit_as(&mut p0, &[], &[(Principal::Admin, acts_for(&elsewhere, true))]);
    let local = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&here, true))]);
    assert!(applied(&admin.outcomes[0]) && applied(&local.outcomes[0]));
    assert!(messages(&admin).is_empty() && messages(&local).is_empty());
    assert_eq!((owner(&p0, &elsewhere), owner(&p0, &here)), (None, Some(a)));
}

#[test]
fn claims_asked_from_two_partitions_are_decided_once_on_the_users() {
    let config = crate::state_machine::tests::config;
    let [mut p0, mut p1, mut p2] = [0, 1, 2].map(|partition| StateMachine::new(config().for_partition(partition, 3)));
    let (a, b) = (app("a"), app("b"));
    let user = user_on(&p0, 1, "u");

    // a's command (refused in the end) asks first, b's from another partition.
    let from_a = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&user, false))]);
    let from_b = commit_as(&mut p2, &[], &[(b.clone(), acts_for(&user, true))]);
    let answers = commit_as(&mut p1, &[messages(&from_a), messages(&from_b)].concat(), &[]);
    let answered = |source: u16| {
        answers.outgoing.iter().filter(|sent| sent.destination == source).map(|sent| sent.message.clone()).collect()
    };
    let (to_a, to_b): (Vec<TransitMessage>, Vec<TransitMessage>) = (answered(0), answered(2));
    assert!(matches!(&to_b[..], [TransitMessage::Claimed { owner, confirmed: false, .. }] if *owner == a));
    let refused_b = commit_as(&mut p2, &to_b, &[]);
    assert_eq!(refused_b.completed[0].1, Outcome::Rejected(Rejection::Forbidden), "a claims the user first");
    assert!(messages(&refused_b).is_empty(), "b relied on no claim: nothing to end");

    // a's command is refused: its claim is given up, and b may claim the user now.
    let refused_a = commit_as(&mut p0, &to_a, &[]);
    assert_eq!(refused_a.completed[0].1, Outcome::Rejected(Rejection::InvalidField));
    commit_as(&mut p1, &messages(&refused_a), &[]);
    assert_eq!((owner(&p1, &user), p1.transit().tentative_claims()), (None, 0));
    let again = commit_as(&mut p2, &[], &[(b.clone(), acts_for(&user, true))]);
    let decided = deliver(&mut p2, &commit_as(&mut p1, &messages(&again), &[]));
    assert!(applied(&decided.completed[0].1));
    deliver(&mut p1, &decided);
    assert_eq!((owner(&p1, &user), owner(&p2, &user), owner(&p0, &user)), (Some(b.clone()), Some(b), None));
}

#[test]
fn the_users_claim_is_asked_before_an_id_of_another_caller_is_refused() {
    let [mut p0, mut p1] = machines();
    let (a, b, c) = (app("a"), app("b"), app("c"));
    let (user, other) = (user_on(&p0, 1, "u"), user_on(&p0, 0, "v"));
    // The user is c's; id z1 is a's.
    let account_c = opened(&mut p1, &c, "acc-c");
    assert!(authorized(&commit_as(&mut p1, &[], &[(c, authorize("z0", &user, &account_c, NOW + 60_000))]).outcomes[0]));
    let account_a = opened(&mut p0, &a, "acc-a");
    assert!(authorized(
        &commit_as(&mut p0, &[], &[(a, authorize("z1", &other, &account_a, NOW + 60_000))]).outcomes[0]
    ));

    // As one partition decides it: the rule (another app's user) before the id (another's).
    let account_b = opened(&mut p0, &b, "acc-b");
    let asked = commit_as(&mut p0, &[], &[(b, authorize("z1", &user, &account_b, NOW + 60_000))]);
    assert!(matches!(&messages(&asked)[..], [TransitMessage::Claim(_)]));
    let decided = deliver(&mut p0, &commit_as(&mut p1, &messages(&asked), &[]));
    assert_eq!(decided.completed[0].1, Outcome::Rejected(Rejection::Forbidden));
}

/// A read's verdict on `machine` for `principal` reading `user`'s coupons, with `claims` given.
fn coupons_read(machine: &StateMachine, principal: &Principal, user: &Id, claims: &KnownClaims) -> ReadVerdict {
    machine.read_verdict(principal, &Read::UserCoupons(user.clone()), &[], claims)
}

#[test]
fn a_read_takes_a_users_claim_as_decided_never_a_tentative_one() {
    let [mut p0, mut p1] = machines();
    let (a, b, user) = (app("a"), app("b"), user_on(&p0, 1, "u"));
    let elsewhere = ReadVerdict::ClaimsElsewhere(vec![user.clone()]);
    assert_eq!(coupons_read(&p0, &a, &user, &[]), elsewhere, "the home partition does not know the claim");
    assert_eq!(p1.claim_for_read(&user), ClaimForRead::Decided(None));
    assert_eq!(coupons_read(&p1, &a, &user, &[]), ReadVerdict::Refused(Rejection::Forbidden), "unclaimed");
    assert_eq!(coupons_read(&p0, &Principal::Admin, &user, &[]), ReadVerdict::Allowed, "the admin reads no claim");

    let asked = commit_as(&mut p0, &[], &[(a.clone(), acts_for(&user, true))]);
    let answer = commit_as(&mut p1, &messages(&asked), &[]);
    assert_eq!(p1.claim_for_read(&user), ClaimForRead::Tentative(a.clone(), vec![0]));
    assert_eq!(coupons_read(&p1, &a, &user, &[]), elsewhere, "tentative: not the app's until kept");
    assert_eq!(p0.recorded_claim(&user), None, "the command is still being decided: nobody's");

    let decided = deliver(&mut p0, &answer);
    assert!(applied(&decided.completed[0].1));
    // Acknowledged: the partition that kept it records it before its end reaches the user's.
    assert_eq!(p0.recorded_claim(&user), Some(a.clone()));
    let known = [(user.clone(), Some(a.clone()))];
    assert_eq!(coupons_read(&p0, &a, &user, &known), ReadVerdict::Allowed);
    assert_eq!(coupons_read(&p0, &b, &user, &known), ReadVerdict::Refused(Rejection::Forbidden));
    assert_eq!(coupons_read(&p0, &a, &user, &[]), ReadVerdict::Allowed, "recorded here: known for good");

    deliver(&mut p1, &decided);
    assert_eq!(p1.claim_for_read(&user), ClaimForRead::Decided(Some(a.clone())));
    assert_eq!(coupons_read(&p1, &a, &user, &[]), ReadVerdict::Allowed);
    assert_eq!(coupons_read(&p1, &b, &user, &[]), ReadVerdict::Refused(Rejection::Forbidden));
}

#[test]
fn a_claim_made_on_another_partition_is_noted_on_the_home_one_once() {
    let [mut p0, mut p1] = machines();
    let (a, user) = (app("a"), user_on(&p0, 1, "u"));
    let account = opened(&mut p1, &a, "acc");
    // A command of partition 1 for a user of partition 1 claims it there, for good.
    let made = commit_as(&mut p1, &[], &[(a.clone(), authorize("z1", &user, &account, NOW + 60_000))]);
    assert!(authorized(&made.outcomes[0]) && made.pending.is_empty());
    let note = messages(&made);
    assert!(matches!(&note[..], [TransitMessage::ClaimNoted(note)] if note.user == user && note.owner == a));
    let resent: Vec<TransitMessage> = p1.transit().open_messages().into_iter().map(|sent| sent.message).collect();
    assert_eq!(resent, note, "sent again after a restart until heard");

    let heard = commit_as(&mut p0, &note, &[]);
    assert_eq!(owner(&p0, &user), Some(a.clone()), "the home partition knows it");
    assert_eq!(messages(&heard), messages(&commit_as(&mut p0, &note, &[])), "a repeat is answered alike");
    deliver(&mut p1, &heard);
    assert!(p1.transit().open_messages().is_empty(), "nothing left to send");
    // Known: another command for the user on partition 1 notes nothing more.
    let again = commit_as(&mut p1, &[], &[(a, authorize("z2", &user, &account, NOW + 60_000))]);
    assert!(authorized(&again.outcomes[0]) && messages(&again).is_empty());
}
