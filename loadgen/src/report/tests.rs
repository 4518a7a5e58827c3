use super::*;

fn approved() -> Vec<Code> {
    vec![Cow::Borrowed(APPROVED)]
}

#[test]
fn the_ladder_reads_percentiles_off_the_histogram() {
    let mut recorder = Recorder::default();
    for micros in 1..=10_000u64 {
        recorder.record("transfers.transfer", Duration::from_micros(micros), &approved());
    }
    let ladder = recorder.ladder();
    // HDR histograms with 3 significant digits are exact to 0.1%.
    let near = |value: u64, expected: u64| value.abs_diff(expected) * 1_000 <= expected;
    assert!(near(ladder.p50, 5_000), "{ladder:?}");
    assert!(near(ladder.p90, 9_000), "{ladder:?}");
    assert!(near(ladder.p99, 9_900), "{ladder:?}");
    assert!(near(ladder.p99_9, 9_990), "{ladder:?}");
    assert!(near(ladder.p99_99, 9_999), "{ladder:?}");
    assert!(near(ladder.max, 10_000), "{ladder:?}");
    assert_eq!(ladder.requests, 10_000);
    assert_eq!(recorder.steps()["transfers.transfer"].ladder(), ladder);
}

#[test]
fn a_skewed_distribution_has_the_tail_where_it_belongs() {
    let mut recorder = Recorder::default();
    // 99% at 100 us, 0.9% at 10 ms, 0.1% at 1 s.
    for index in 0..100_000u32 {
        let latency = match index % 1_000 {
            0 => Duration::from_secs(1),
            1..=9 => Duration::from_millis(10),
            _ => Duration::from_micros(100),
        };
        recorder.record("pos.settle", latency, &approved());
    }
    let ladder = recorder.ladder();
    assert_eq!((ladder.p50, ladder.p90), (100, 100));
    assert_eq!(ladder.p99, 100, "exactly 99% are at 100 us");
    assert!(ladder.p99_9.abs_diff(10_000) <= 10, "{ladder:?}");
    assert!(ladder.p99_99.abs_diff(1_000_000) <= 1_000, "{ladder:?}");
    assert!(ladder.max.abs_diff(1_000_000) <= 1_000, "{ladder:?}");
}

#[test]
fn recorders_merge_and_counts_add_up_per_step() {
    let mut left = Recorder::default();
    let mut right = Recorder::default();
    left.record("transfers.transfer", Duration::from_micros(10), &[APPROVED.into(), APPROVED.into()]);
    right.record("pos.settle", Duration::from_millis(5), &["insufficient_funds".into()]);
    right.record("pos.settle", Duration::from_secs(3_600), &["busy".into()]); // clamped, not lost
    right.scenario("pos", false);
    left.scenario("transfers", true);
    left.merge(&right);
    assert_eq!(left.commands(), 4);
    assert_eq!(left.requests(), 3);
    assert_eq!(left.outcomes()[APPROVED], 2);
    assert_eq!(left.outcomes()["busy"], 1);
    assert_eq!(left.ladder().requests, 3);
    assert!(left.ladder().max >= 59_000_000, "an hour is clamped to the minute the histogram holds");
    let steps = left.steps();
    assert_eq!(steps["pos.settle"].commands(), 2);
    assert_eq!(steps["transfers.transfer"].commands(), 2);
    assert_eq!(steps.values().map(StepRecorder::commands).sum::<u64>(), left.commands());
    assert_eq!(left.scenarios()["pos"], ScenarioCount { started: 1, completed: 0 });
    let report = Report::new("embedded", "test".into(), &left, Duration::from_secs(2));
    assert_eq!(report.steps["pos.settle"].outcomes["busy"], 1);
    assert_eq!(report.steps.values().map(|step| step.requests).sum::<u64>(), report.requests);
    assert_eq!(report.throughput_per_s.round() as u64, 2);
}

#[test]
fn the_timeline_counts_per_second_of_completion() {
    let start = Instant::now();
    let stats = Stats::new(4, start);
    for index in 0..10u64 {
        let done = start + Duration::from_millis(250 * index);
        let results: Vec<Code> = if index == 3 { vec!["busy".into()] } else { approved() };
        stats.record(index as usize, "transfers.transfer", done - Duration::from_millis(index + 1), done, &results);
    }
    let timeline = stats.timeline();
    assert_eq!(timeline.iter().map(|second| second.commands).collect::<Vec<_>>(), vec![4, 4, 2]);
    assert_eq!(timeline.iter().map(|second| second.errors).collect::<Vec<_>>(), vec![1, 0, 0]);
    // Second 1 holds latencies of 5..=8 ms; two significant digits read 8 ms as 8.0x ms.
    assert!((8_000..8_100).contains(&timeline[1].p99_us), "{timeline:?}");
    assert_eq!(stats.commands(), 10);
    assert_eq!(stats.errors(), 1);
    assert_eq!(stats.merged().commands(), 10);
}

#[test]
fn conservation_is_reported() {
    let mut report = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(1));
    report.conservation = Some(Conservation::new(10, 0, 7, 3, 5, 1));
    assert!(report.render().contains("conservation OK"), "{}", report.render());
    assert_eq!(report.exit_code(), 0);
    report.conservation = Some(Conservation::new(10, 0, 9, 0, 5, 0));
    assert!(report.render().contains("conservation VIOLATED: expected 10, found 9"));
    assert_eq!(report.exit_code(), 3);
    report.conservation = None;
    report.conservation_note = Some("no HTTP".into());
    assert!(report.render().contains("conservation not checked: no HTTP"));
    assert_eq!(report.exit_code(), 0);
    let empty = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(1));
    assert_eq!(empty.latency_us.p99, 0);
}
