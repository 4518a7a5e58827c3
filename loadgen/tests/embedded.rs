//! End to end against the embedded target: every scenario runs to a `--count`, the counts add
//! up, every step is approved and money is conserved.

use std::time::Duration;

use kassa_engine::Durability;
use kassa_engine::command::Submission;
use kassa_loadgen::mix::{Mix, Scenario};
use kassa_loadgen::report::Report;
use kassa_loadgen::{LoadConfig, Target};

fn config(dir: &tempfile::TempDir, mix: Mix, count: u64) -> LoadConfig {
    let mut config = LoadConfig::new(Target::Embedded);
    config.data_dir = dir.path().join("data");
    config.accounts = 20;
    config.connections = 4;
    config.mix = mix;
    config.count = Some(count);
    config.warmup = Duration::ZERO;
    config.duration = Duration::from_secs(600); // the count ends the run
    config
}

/// What every run must satisfy.
fn check(report: &Report, count: u64) {
    let text = report.render();
    assert_eq!(report.commands, count, "exactly --count commands are measured\n{text}");
    assert_eq!(report.outcomes.values().sum::<u64>(), report.commands, "{text}");
    assert_eq!(report.outcomes.keys().collect::<Vec<_>>(), vec!["approved"], "{text}");
    assert_eq!(report.steps.values().map(|step| step.commands).sum::<u64>(), report.commands, "{text}");
    assert_eq!(report.steps.values().map(|step| step.requests).sum::<u64>(), report.requests, "{text}");
    assert_eq!(report.latency_us.requests, report.requests, "{text}");
    assert!(report.steps.values().all(|step| step.outcomes.values().sum::<u64>() == step.commands), "{text}");
    assert_eq!(report.timeline.iter().map(|second| second.commands).sum::<u64>(), report.commands, "{text}");
    assert_eq!(report.timeline.iter().map(|second| second.errors).sum::<u64>(), 0, "{text}");
    let conservation = report.conservation.as_ref().expect("checked");
    assert!(conservation.holds(), "{text}");
    assert_eq!(conservation.expected, 20 * 1_000_000_000, "{text}");
    assert_eq!(conservation.accounts, 21, "the load accounts and the merchant's\n{text}");
    assert_eq!(report.exit_code(), 0);
    let started: u64 = report.scenarios.values().map(|count| count.started).sum();
    let completed: u64 = report.scenarios.values().map(|count| count.completed).sum();
    assert!(started >= 1 && completed >= 1 && completed <= started, "{text}");
}

async fn run_scenario(scenario: Scenario, steps: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let report = kassa_loadgen::run(config(&dir, Mix::only(scenario), 120)).await.unwrap();
    check(&report, 120);
    assert_eq!(report.scenarios.keys().collect::<Vec<_>>(), vec![scenario.name()]);
    for step in steps {
        assert!(report.steps.contains_key(*step), "no {step} in\n{}", report.render());
    }
    assert!(report.steps.keys().all(|step| step.starts_with(&format!("{}.", scenario.name()))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_run_end_to_end() {
    run_scenario(Scenario::Transfers, &["transfers.transfer"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pos_runs_end_to_end() {
    run_scenario(Scenario::Pos, &["pos.authorize", "pos.settle"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_run_end_to_end() {
    run_scenario(Scenario::Holds, &["holds.place", "holds.capture", "holds.void"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bills_run_end_to_end() {
    run_scenario(Scenario::Bills, &["bills.open", "bills.add_item", "bills.submit", "bills.confirm"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_run_end_to_end() {
    run_scenario(Scenario::Splits, &["splits.request", "splits.pay"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_run_end_to_end() {
    let steps = ["coupons.issue", "coupons.share", "coupons.claim", "coupons.authorize", "coupons.settle"];
    run_scenario(Scenario::Coupons, &[&steps[..], &["coupons.redeem", "coupons.pay"]].concat()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_mix_runs_in_open_loop_with_skew_and_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let mix: Mix = "transfers=70,pos=10,holds=10,bills=4,splits=3,coupons=3".parse().unwrap();
    let mut config = config(&dir, mix, 400);
    config.rate = Some(1_000);
    config.skew = "zipf:1.1".parse().unwrap();
    config.durability = Durability::UnsafeNoSync;
    config.warmup = Duration::from_millis(200);
    let report = kassa_loadgen::run(config).await.unwrap();
    assert!(report.mode.starts_with("open loop: 1000 steps/s"), "{}", report.mode);
    // A hot account may run into the per-user authorization limit; everything else applies.
    let mut outcomes = report.outcomes.clone();
    outcomes.remove("too_many_authorizations");
    let approved = outcomes.remove("approved").unwrap_or(0);
    assert!(outcomes.is_empty(), "{}", report.render());
    assert_eq!(approved + report.outcomes.get("too_many_authorizations").copied().unwrap_or(0), 400);
    assert!(report.conservation.as_ref().unwrap().holds(), "{}", report.render());
    assert!(report.steps.contains_key("transfers.transfer"), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_batches_count_every_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir, Mix::default(), 1_000);
    config.batch = 64;
    let report = kassa_loadgen::run(config).await.unwrap();
    check(&report, 1_000);
    let batches = &report.steps["transfers.batch"];
    assert_eq!(batches.commands, 1_000);
    assert_eq!(batches.requests, 16, "15 full batches of 64 and one of the 40 left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_are_evaluated_on_the_run_and_a_failed_one_sets_exit_code_99() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir, Mix::default(), 200);
    config.durability = Durability::UnsafeNoSync;
    // Latencies are at least 1 us and at most the histograms' minute: the first three hold for
    // any run that measured something, the last for none.
    let expressions = ["p99<=60s", "errors<=0", "throughput>0", "p50<1us"];
    config.thresholds = expressions.iter().map(|text| text.parse().unwrap()).collect();
    let report = kassa_loadgen::run(config).await.unwrap();
    let text = report.render();
    let verdicts: Vec<(&str, bool)> =
        report.thresholds.iter().map(|verdict| (verdict.expression.as_str(), verdict.pass)).collect();
    assert_eq!(verdicts, vec![("p99<=60s", true), ("errors<=0", true), ("throughput>0", true), ("p50<1us", false)]);
    assert_eq!(report.thresholds[0].actual, Some(report.latency_us.p99 as f64), "the summary's p99");
    assert_eq!(report.thresholds[1].actual, Some(0.0));
    assert!(report.conservation.as_ref().unwrap().holds(), "{text}");
    assert_eq!(report.exit_code(), kassa_loadgen::threshold::EXIT_FAILED);
    assert!(text.contains("threshold p99<=60s: PASS (p99 "), "{text}");
    assert!(text.contains(&format!("threshold p50<1us: FAIL (p50 {} us)\n", report.latency_us.p50)), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["thresholds"][3]["pass"], false, "{json}");
    assert_eq!(json["thresholds"][2]["metric"], "throughput", "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir, Mix::default(), 10);
    config.accounts = 1;
    assert!(kassa_loadgen::run(config.clone()).await.unwrap_err().contains("--accounts"));
    config.accounts = 10;
    config.target = Target::Http;
    config.batch = 10;
    assert!(kassa_loadgen::run(config).await.unwrap_err().contains("--batch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conservation_check_holds_and_catches_money_that_left_the_run() {
    use kassa_engine::command::{
        Command, OpenAccount, PaySplitShare, RequestSplit, SplitMember, SplitShares, Transfer,
    };
    use kassa_engine::{Currency, Id};
    use kassa_loadgen::embedded;
    use kassa_loadgen::report::Conservation;
    use kassa_loadgen::scenario::{Ids, setup_phases};

    let dir = tempfile::tempdir().unwrap();
    let engine = embedded::open(&dir.path().join("data"), Durability::UnsafeNoSync, None, (1, 0, None)).unwrap();
    let ids = Ids::new(9);
    let (phases, deposited) = setup_phases(&ids, 5, 1, &Mix::default(), false);
    embedded::setup(&engine, &phases).await.unwrap();
    let accounts: Vec<Id> = (0..5).map(|index| ids.account(index)).chain([ids.merchant_account()]).collect();
    let check = |(balances, escrow): (i128, i128), splits: usize| {
        Conservation::new(deposited, 0, balances, escrow, accounts.len(), splits)
    };
    let id = |text: &str| Id::new(text).unwrap();
    let transfer = |name: &str, from: Id, to: Id| {
        Command::Transfer(Transfer { id: id(name), from, to, amount: 100, currency: Currency::EUR })
    };
    assert!(check(embedded::balances(&engine, accounts.clone(), vec![]).await.unwrap(), 0).holds());
    // Money moving between the run's accounts changes nothing.
    assert!(
        engine.submit(Submission::admin(transfer("t1", ids.account(0), ids.account(1)))).await.unwrap().is_applied()
    );
    assert!(check(embedded::balances(&engine, accounts.clone(), vec![]).await.unwrap(), 0).holds());
    // A paid share sits in the split's escrow: counted when the split is named.
    let split = RequestSplit {
        split: id("s1"),
        requester: ids.user(0),
        requester_account: ids.account(0),
        total: 400,
        currency: Currency::EUR,
        members: (1..3).map(|index| SplitMember { user: ids.user(index), account: ids.account(index) }).collect(),
        shares: SplitShares::Equal,
        expires_at_ms: kassa_loadgen::channel::now_ms() + 600_000,
    };
    assert!(engine.submit(Submission::admin(Command::RequestSplit(split))).await.unwrap().is_applied());
    let pay = PaySplitShare { split: id("s1"), member: ids.user(1) };
    assert!(engine.submit(Submission::admin(Command::PaySplitShare(pay))).await.unwrap().is_applied());
    let with_escrow = check(embedded::balances(&engine, accounts.clone(), vec![id("s1")]).await.unwrap(), 1);
    assert!(with_escrow.holds() && with_escrow.escrow == 200, "{with_escrow:?}");
    let without = check(embedded::balances(&engine, accounts.clone(), vec![]).await.unwrap(), 0);
    assert!(!without.holds(), "escrow left out must show");
    // Money paid to an account the run does not know: the check fails, by that amount.
    let outsider = OpenAccount { account: id("outsider"), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(engine.submit(Submission::admin(Command::OpenAccount(outsider))).await.unwrap().is_applied());
    assert!(
        engine.submit(Submission::admin(transfer("t2", ids.account(3), id("outsider")))).await.unwrap().is_applied()
    );
    let leaked = check(embedded::balances(&engine, accounts.clone(), vec![id("s1")]).await.unwrap(), 1);
    assert!(!leaked.holds());
    assert_eq!(leaked.expected - leaked.actual, 100);
    let mut report = Report::new("embedded", "test".into(), &Default::default(), Duration::from_secs(1));
    report.conservation = Some(leaked);
    assert_eq!(report.exit_code(), 3);
    assert!(report.render().contains("conservation VIOLATED"));
    engine.shutdown();
}

#[test]
fn accounts_with_users_are_named_onto_their_users_partitions() {
    use kassa_engine::partition::Placement;
    use kassa_loadgen::scenario::Ids;
    let placement = Placement::new([7; 16], 3);
    let ids = Ids::new(42).with_accounts_on_users_partitions(&placement, 50);
    for index in 0..50 {
        assert_eq!(placement.of_account(&ids.account(index)), placement.of_user(&ids.user(index)), "account {index}");
    }
    let plain = Ids::new(42);
    let moved = (0..50).filter(|index| ids.account(*index) != plain.account(*index)).count();
    assert!(moved > 0 && moved < 50, "only the accounts placed elsewhere get another name ({moved} of 50)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pos_runs_with_accounts_on_their_users_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir, Mix::only(Scenario::Pos), 120);
    config.partitions = 3;
    config.accounts_with_users = true;
    let report = kassa_loadgen::run(config.clone()).await.unwrap();
    check(&report, 120);
    config.target = Target::Tcp;
    assert!(kassa_loadgen::run(config).await.unwrap_err().contains("--accounts-with-users"));
}
