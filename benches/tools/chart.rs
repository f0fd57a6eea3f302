//! Draws `benches/compare.sh sweep`'s CSV as an SVG: throughput against connections, one
//! column per service, one line per server; the top row in requests/s, the bottom row in
//! requests per server CPU-second (the figure a one-thread load generator cannot cap).
//!
//! ```text
//! cargo run --release --example chart -- docs/bench/sweep.csv docs/bench/throughput-vs-connections.svg
//! ```
//!
//! The CSV has a header line, then `service,server,connections,requests_per_sec,per_cpu_sec`.

use std::collections::BTreeMap;
use std::error::Error;

use plotters::prelude::*;

/// One measured point.
struct Point {
    connections: f64,
    requests_per_sec: f64,
    per_cpu_sec: f64,
}

/// Which figure of a point a panel plots.
type Metric = fn(&Point) -> f64;

/// service → server → points, in the order the CSV lists them.
type Series = BTreeMap<String, Vec<(String, Vec<Point>)>>;

fn read(path: &str) -> Result<Series, Box<dyn Error>> {
    let mut series = Series::new();
    for (n, line) in std::fs::read_to_string(path)?.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [service, server, connections, rps, per_cpu] = fields[..] else {
            return Err(format!("{path}:{}: expected 5 fields", n + 1).into());
        };
        let point = Point {
            connections: connections.parse()?,
            requests_per_sec: rps.parse()?,
            per_cpu_sec: per_cpu.parse()?,
        };
        let servers = series.entry(service.to_owned()).or_default();
        match servers.iter_mut().find(|(name, _)| name == server) {
            Some((_, points)) => points.push(point),
            None => servers.push((server.to_owned(), vec![point])),
        }
    }
    Ok(series)
}

/// One panel: every server's line for one service, in one metric.
fn draw(
    panel: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    service: &str,
    servers: &[(String, Vec<Point>)],
    unit: &str,
    metric: Metric,
) -> Result<(), Box<dyn Error>> {
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    let all = || servers.iter().flat_map(|(_, points)| points.iter());
    let top = (all().map(metric).fold(0.0, f64::max) / 1000.0).max(1.0);
    // The measured connection counts, with a margin either side on the log axis.
    let left = all()
        .map(|p| p.connections)
        .fold(f64::INFINITY, f64::min)
        .max(1.0)
        / 1.25;
    let right = all().map(|p| p.connections).fold(1.0, f64::max) * 1.3;
    let mut chart = ChartBuilder::on(panel)
        .caption(service, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((left..right).log_scale(), 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("connections")
        .y_desc(unit)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for ((server, points), color) in servers.iter().zip(palette.iter().cycle()) {
        let xy = || points.iter().map(|p| (p.connections, metric(p) / 1000.0));
        chart
            .draw_series(LineSeries::new(xy(), color.stroke_width(2)))?
            .label(server.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(xy().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = match &args[..] {
        [_, input, output] => (input.as_str(), output.as_str()),
        _ => return Err("usage: chart SWEEP.csv OUT.svg".into()),
    };
    let series = read(input)?;
    let columns = series.len().max(1);
    let root = SVGBackend::new(output, (520 * columns as u32, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, columns));
    let metrics: [(&str, Metric); 2] = [
        ("thousand requests/s", |p| p.requests_per_sec),
        ("thousand requests per server CPU-second", |p| p.per_cpu_sec),
    ];
    for (row, (unit, metric)) in metrics.iter().enumerate() {
        for ((service, servers), panel) in series.iter().zip(&panels[row * columns..]) {
            draw(panel, service, servers, unit, *metric)?;
        }
    }
    root.present()?;
    Ok(())
}
