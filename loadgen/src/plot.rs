//! `--plot FILE.svg`: throughput and p99 latency per second over the run (plotters, SVG backend).

#![allow(clippy::float_arithmetic)] // chart coordinates and rates, not money

use std::path::Path;

use plotters::prelude::*;

use crate::report::{Report, SecondReport};

/// Draws one panel: `values` per second, as a line with a dot per second.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    seconds: u64,
    values: &[(u64, f64)],
    color: RGBColor,
) -> Result<(), String> {
    let top = values.iter().map(|(_, value)| *value).fold(0.0f64, f64::max).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(0u64..seconds.max(1), 0f64..top)
        .map_err(|error| error.to_string())?;
    chart
        .configure_mesh()
        .x_desc("second of the measured run")
        .y_desc(unit)
        .draw()
        .map_err(|error| error.to_string())?;
    chart.draw_series(LineSeries::new(values.iter().copied(), &color)).map_err(|error| error.to_string())?;
    chart
        .draw_series(values.iter().map(|point| Circle::new(*point, 2, color.filled())))
        .map_err(|error| error.to_string())?;
    Ok(())
}

/// Points of a chart: (second, value).
pub type Points = Vec<(u64, f64)>;

/// The throughput and p99 (ms) series of a time series: one point per second.
pub fn series(timeline: &[SecondReport]) -> (Points, Points) {
    let throughput = timeline.iter().map(|second| (second.second, second.commands as f64)).collect();
    let p99 = timeline
        .iter()
        .filter(|second| second.requests > 0)
        .map(|second| (second.second, second.p99_us as f64 / 1_000.0))
        .collect();
    (throughput, p99)
}

/// Writes the SVG: throughput (commands per second) above, p99 latency (ms) below.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    let seconds = report.timeline.len() as u64;
    let (throughput, p99) = series(&report.timeline);
    let root = SVGBackend::new(path, (1_000, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| error.to_string())?;
    let (upper, lower) = root.split_vertically(360);
    let mode = report.mode.split(':').next().unwrap_or_default();
    let title = format!("kassa-loadgen {} {mode}, {}", report.target, report.mix);
    panel(&upper, &format!("{title}: throughput"), "commands/s", seconds, &throughput, BLUE)?;
    panel(&lower, "p99 latency per second", "ms", seconds, &p99, RED)?;
    root.present().map_err(|error| format!("writing {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::Recorder;

    #[test]
    fn the_plot_is_an_svg_with_both_series() {
        let mut report = Report::new("embedded", "test".into(), &Recorder::default(), Duration::from_secs(3));
        report.timeline = (0..3)
            .map(|second| SecondReport {
                second,
                commands: 1_000 * (second + 1),
                requests: 1_000,
                errors: 0,
                p50_us: 100,
                p99_us: 2_500,
                max_us: 9_000,
            })
            .collect();
        let (throughput, p99) = series(&report.timeline);
        assert_eq!(throughput, vec![(0, 1_000.0), (1, 2_000.0), (2, 3_000.0)]);
        assert_eq!(p99, vec![(0, 2.5), (1, 2.5), (2, 2.5)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.svg");
        write_svg(&report, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("throughput") && svg.contains("p99 latency"));
        // An empty run still gives a (blank) chart rather than an error.
        report.timeline.clear();
        write_svg(&report, &path).unwrap();
    }
}
