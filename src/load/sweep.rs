//! `evserve load sweep`: latency against throughput in one command, and the knee.
//!
//! The question people bring to a benchmark is rarely "how many requests per second at 50
//! connections" but "how much load can this server take before its p99 crosses my
//! objective". A sweep answers it: an open-loop rate (so coordinated omission is corrected,
//! see `pacing.rs`) stepped up from `start` by `step` (or times `factor`) until the chosen
//! percentile crosses the objective (`--slo`), the errors pass `--max-error-rate`, or the
//! rate passes `stop`. Each step first warms up (new connections, caches, the server's
//! queues from the step before) and then measures for a set time; only the measurement
//! counts. The **knee** is the highest rate that met the objective.
//!
//! Several targets (`--compare`) are swept interleaved, step by step, by the same client, so
//! a drift of the machine during the sweep falls on all of them alike. Each target stops on
//! its own first miss.
//!
//! The results are every step as JSON and CSV, and an SVG chart ([`svg`]): latency
//! percentiles (log scale) against the throughput achieved, one colour per percentile, one
//! line style per target, the objective as a line and each target's knee marked.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use super::{LoadConfig, Report};

/// How the rate grows from one step to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    /// Add this many requests per second.
    Add(f64),
    /// Multiply by this factor (above 1).
    Times(f64),
}

/// What a sweep is to do.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The first rate, requests per second.
    pub start: f64,
    /// How the rate grows.
    pub growth: Growth,
    /// No rate above this is tried.
    pub stop: f64,
    /// Load before each measurement, not counted.
    pub warmup: Duration,
    /// The measurement of each step.
    pub measure: Duration,
    /// The percentile held to the objective (99 for p99).
    pub percentile: f64,
    /// The objective: that percentile must be at most this.
    pub slo: Duration,
    /// A step with a larger share of failed requests misses the objective too.
    pub max_error_rate: f64,
}

impl SweepPlan {
    /// The rates the plan steps through, at most `MAX_STEPS` of them.
    pub fn rates(&self) -> Vec<f64> {
        let mut rates = Vec::new();
        let mut rate = self.start;
        while rate <= self.stop * (1.0 + 1e-9) && rates.len() < MAX_STEPS {
            rates.push(rate);
            rate = match self.growth {
                Growth::Add(step) => rate + step,
                Growth::Times(factor) => rate * factor,
            };
        }
        rates
    }

    /// Checks the plan; the message names the flag at fault.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.start) || !positive(self.stop) || self.stop < self.start {
            return Err("--start and --stop must be rates above 0, --stop at least --start".into());
        }
        match self.growth {
            Growth::Add(step) if !positive(step) => {
                return Err("--step must be a rate above 0".into());
            }
            Growth::Times(factor) if !(factor.is_finite() && factor > 1.0) => {
                return Err("--factor must be above 1".into());
            }
            _ => {}
        }
        if self.measure.is_zero() || self.slo.is_zero() {
            return Err("--measure and --slo must be more than 0".into());
        }
        if self.rates().len() >= MAX_STEPS {
            return Err(format!(
                "--start, --step/--factor and --stop make more than {MAX_STEPS} steps: take a \
                 larger step or a lower --stop"
            ));
        }
        Ok(())
    }
}

/// Most steps a sweep may plan.
pub const MAX_STEPS: usize = 200;

/// One measured step of one target.
#[derive(Debug, Clone)]
pub struct Step {
    /// The rate asked for, requests per second.
    pub rate: f64,
    /// The throughput achieved: replies per second of the measurement.
    pub achieved: f64,
    /// p50, p99, p99.9 and max latency, µs.
    pub p50: u64,
    /// p99, µs.
    pub p99: u64,
    /// p99.9, µs.
    pub p999: u64,
    /// Max, µs.
    pub max: u64,
    /// The plan's percentile, µs.
    pub held: u64,
    /// Share of requests that failed.
    pub error_rate: f64,
    /// Whether the step met the objective.
    pub met: bool,
}

impl Step {
    fn of(rate: f64, report: &Report, plan: &SweepPlan) -> Step {
        let held = report.latency.value_at_percentile(plan.percentile);
        let slo = u64::try_from(plan.slo.as_micros()).unwrap_or(u64::MAX);
        let error_rate = report.error_rate();
        Step {
            rate,
            achieved: report.requests_per_sec(),
            p50: report.latency.value_at_percentile(50.0),
            p99: report.latency.value_at_percentile(99.0),
            p999: report.latency.value_at_percentile(99.9),
            max: report.latency.max(),
            held,
            error_rate,
            met: report.requests > 0 && held <= slo && error_rate <= plan.max_error_rate,
        }
    }
}

/// One target's sweep.
#[derive(Debug, Clone)]
pub struct Swept {
    /// What the target is called in the table and chart (its URL or address).
    pub label: String,
    /// Every step measured, in order; the last one missed the objective unless the plan
    /// ran out first.
    pub steps: Vec<Step>,
}

impl Swept {
    /// The highest rate that met the objective before the first miss, if any did.
    pub fn knee(&self) -> Option<&Step> {
        self.steps.iter().take_while(|s| s.met).last()
    }
}

/// Sweeps `targets` (label, run settings; the rate and duration are the sweep's) through
/// `plan`, interleaved step by step. `on_step` is called after each measurement, with the
/// target's index, the step's index in the plan and the step, to print the table as it
/// goes; `on_phase` before each warm-up and measurement, for a progress line.
pub fn sweep(
    targets: &[(String, LoadConfig)],
    plan: &SweepPlan,
    mut on_step: impl FnMut(usize, usize, &Step),
    mut on_phase: impl FnMut(usize, usize, f64, &str),
) -> io::Result<Vec<Swept>> {
    let mut swept: Vec<Swept> = targets
        .iter()
        .map(|(label, _)| Swept {
            label: label.clone(),
            steps: Vec::new(),
        })
        .collect();
    let stopped = |c: &LoadConfig| {
        c.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    };
    for (k, rate) in plan.rates().into_iter().enumerate() {
        let mut any = false;
        for (t, (_, config)) in targets.iter().enumerate() {
            if swept[t].steps.last().is_some_and(|s| !s.met) || stopped(config) {
                continue;
            }
            any = true;
            let mut run = config.clone();
            run.rate = Some(rate);
            run.requests = None;
            run.progress = false;
            if !plan.warmup.is_zero() {
                on_phase(t, k, rate, "warming up");
                run.duration = plan.warmup;
                super::run(&run)?;
            }
            on_phase(t, k, rate, "measuring");
            run.duration = plan.measure;
            let report = super::run(&run)?;
            if report.interrupted {
                return Ok(swept);
            }
            let step = Step::of(rate, &report, plan);
            on_step(t, k, &step);
            swept[t].steps.push(step);
        }
        if !any {
            break;
        }
    }
    Ok(swept)
}

/// Every step of every target as JSON.
pub fn to_json(swept: &[Swept], plan: &SweepPlan) -> serde_json::Value {
    serde_json::json!({
        "percentile": plan.percentile,
        "slo_us": plan.slo.as_micros() as u64,
        "max_error_rate": plan.max_error_rate,
        "warmup_secs": plan.warmup.as_secs_f64(),
        "measure_secs": plan.measure.as_secs_f64(),
        "targets": swept.iter().map(|s| serde_json::json!({
            "label": s.label,
            "knee_rate": s.knee().map(|k| k.rate),
            "knee_achieved": s.knee().map(|k| k.achieved),
            "steps": s.steps.iter().map(|st| serde_json::json!({
                "rate": st.rate,
                "achieved": st.achieved,
                "p50_us": st.p50,
                "p99_us": st.p99,
                "p999_us": st.p999,
                "max_us": st.max,
                "held_us": st.held,
                "error_rate": st.error_rate,
                "met": st.met,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Every step of every target as CSV, one header line.
pub fn to_csv(swept: &[Swept]) -> String {
    let mut csv =
        String::from("target,rate,achieved,p50_us,p99_us,p999_us,max_us,error_rate,met\n");
    for s in swept {
        for st in &s.steps {
            let _ = writeln!(
                csv,
                "{},{},{:.1},{},{},{},{},{:.6},{}",
                s.label.replace(',', "%2C"),
                st.rate,
                st.achieved,
                st.p50,
                st.p99,
                st.p999,
                st.max,
                st.error_rate,
                st.met
            );
        }
    }
    csv
}

/// Escapes text for XML.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A latency in µs as people read it: `850 µs`, `12 ms`, `1.5 s`.
fn time_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{} ms", us / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// One line of the chart: its name, its colour, and its value in a step.
type Series = (&'static str, &'static str, fn(&Step) -> u64);

/// The chart: latency percentiles (log scale) against achieved throughput, per target.
pub fn svg(swept: &[Swept], plan: &SweepPlan) -> String {
    const W: f64 = 900.0;
    const H: f64 = 560.0;
    const LEFT: f64 = 90.0;
    const RIGHT: f64 = 200.0;
    const TOP: f64 = 50.0;
    const BOTTOM: f64 = 70.0;
    let series: [Series; 4] = [
        ("p50", "#1b9e77", |s| s.p50),
        ("p99", "#d95f02", |s| s.p99),
        ("p99.9", "#7570b3", |s| s.p999),
        ("max", "#e7298a", |s| s.max),
    ];
    let dashes = ["", "8 4", "2 3", "12 3 2 3"];
    let slo = plan.slo.as_micros() as f64;
    let all = swept.iter().flat_map(|s| &s.steps);
    let x_max = all.clone().map(|s| s.achieved).fold(1.0, f64::max) * 1.05;
    let values = all.flat_map(|s| [s.p50, s.max]).map(|v| v.max(1) as f64);
    let y_lo = values.clone().fold(slo, f64::min).log10().floor();
    let y_hi = values.fold(slo, f64::max).log10().ceil().max(y_lo + 1.0);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    // The legend names each target by its URL: widen the picture (never the plot) to fit the
    // longest, at about 7.5 px a character of 13 px sans-serif, past the legend's 60 px swatch.
    let longest = swept
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    let w = W.max(LEFT + pw + 60.0 + longest as f64 * 7.5 + 20.0);
    let x = |v: f64| LEFT + v / x_max * pw;
    let y = |us: f64| TOP + ph - (us.max(1.0).log10() - y_lo) / (y_hi - y_lo) * ph;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{H}" viewBox="0 0 {w} {H}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(out, r#"<rect width="{w}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="28" font-size="16" text-anchor="middle">Latency against throughput (open loop; objective p{} ≤ {})</text>"#,
        LEFT + pw / 2.0,
        plan.percentile,
        xml(&time_label(slo))
    );
    // Axes, grid and ticks: powers of ten up the side, fifths of the range along the bottom.
    let _ = writeln!(
        out,
        r##"<path d="M{LEFT},{TOP} V{} H{}" stroke="#333" fill="none"/>"##,
        TOP + ph,
        LEFT + pw
    );
    for e in (y_lo as i32)..=(y_hi as i32) {
        let v = 10f64.powi(e);
        let yy = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 8.0,
            yy + 4.0,
            xml(&time_label(v))
        );
    }
    // Round ticks (1, 2 or 5 times a power of ten apart), about five of them.
    let rough = x_max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let tick = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|t| *t >= rough)
        .unwrap_or(rough);
    for i in 0..=((x_max / tick) as u32) {
        let v = tick * f64::from(i);
        let xx = x(v);
        let _ = writeln!(
            out,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{}" y2="{}" stroke="#333"/><text x="{xx:.1}" y="{}" text-anchor="middle">{:.0}</text>"##,
            TOP + ph,
            TOP + ph + 5.0,
            TOP + ph + 20.0,
            v
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">throughput achieved (requests/s)</text>"#,
        LEFT + pw / 2.0,
        H - 20.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(22,{}) rotate(-90)" text-anchor="middle">latency (log scale)</text>"#,
        TOP + ph / 2.0
    );
    // The objective.
    let ys = y(slo);
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" x2="{}" y1="{ys:.1}" y2="{ys:.1}" stroke="#c00" stroke-width="1.5" stroke-dasharray="6 3"/><text x="{}" y="{:.1}" fill="#c00">SLO p{} {}</text>"##,
        LEFT + pw,
        LEFT + 6.0,
        ys - 5.0,
        plan.percentile,
        xml(&time_label(slo))
    );
    // The lines, then the knees on top.
    for (t, s) in swept.iter().enumerate() {
        let dash = dashes[t % dashes.len()];
        for (_, colour, value) in &series {
            let points: Vec<String> = s
                .steps
                .iter()
                .map(|st| format!("{:.1},{:.1}", x(st.achieved), y(value(st) as f64)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                points.join(" ")
            );
            for p in &points {
                let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(
                    out,
                    r#"<circle cx="{px}" cy="{py}" r="2.5" fill="{colour}"/>"#
                );
            }
        }
    }
    for s in swept {
        if let Some(k) = s.knee() {
            let (kx, ky) = (x(k.achieved), y(k.held.max(1) as f64));
            let _ = writeln!(
                out,
                r##"<circle cx="{kx:.1}" cy="{ky:.1}" r="8" fill="none" stroke="#000" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-weight="bold">knee: {:.0}/s</text>"##,
                kx + 10.0,
                ky - 10.0,
                k.achieved
            );
        }
    }
    // The legend: colours are percentiles, line styles are targets.
    let lx = LEFT + pw + 20.0;
    let mut ly = TOP + 10.0;
    for (name, colour, _) in &series {
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{name}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0
        );
        ly += 20.0;
    }
    ly += 10.0;
    for (t, s) in swept.iter().enumerate() {
        let dash = dashes[t % dashes.len()];
        let _ = writeln!(
            out,
            r##"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="#333" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}">{}</text>"##,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            xml(&s.label)
        );
        ly += 20.0;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SweepPlan {
        SweepPlan {
            start: 100.0,
            growth: Growth::Add(100.0),
            stop: 500.0,
            warmup: Duration::ZERO,
            measure: Duration::from_secs(1),
            percentile: 99.0,
            slo: Duration::from_millis(10),
            max_error_rate: 0.01,
        }
    }

    fn step(rate: f64, p99: u64, met: bool) -> Step {
        Step {
            rate,
            achieved: rate * 0.99,
            p50: p99 / 2,
            p99,
            p999: p99 * 2,
            max: p99 * 3,
            held: p99,
            error_rate: 0.0,
            met,
        }
    }

    #[test]
    fn rates_step_and_grow() {
        assert_eq!(plan().rates(), [100.0, 200.0, 300.0, 400.0, 500.0]);
        let times = SweepPlan {
            growth: Growth::Times(2.0),
            stop: 1000.0,
            ..plan()
        };
        assert_eq!(times.rates(), [100.0, 200.0, 400.0, 800.0]);
        assert!(plan().validate().is_ok());
        let tiny = SweepPlan {
            growth: Growth::Add(0.001),
            ..plan()
        };
        assert!(tiny.validate().unwrap_err().contains("steps"));
        let flat = SweepPlan {
            growth: Growth::Times(1.0),
            ..plan()
        };
        assert!(flat.validate().unwrap_err().contains("--factor"));
    }

    #[test]
    fn the_knee_is_the_last_step_met_before_the_first_miss() {
        let s = Swept {
            label: "a".into(),
            steps: vec![
                step(100.0, 500, true),
                step(200.0, 900, true),
                step(300.0, 20_000, false),
            ],
        };
        assert_eq!(s.knee().map(|k| k.rate), Some(200.0));
        let none = Swept {
            label: "b".into(),
            steps: vec![step(100.0, 20_000, false)],
        };
        assert!(none.knee().is_none());
        let json = to_json(&[s.clone(), none], &plan());
        assert_eq!(json["targets"][0]["knee_rate"], 200.0);
        assert_eq!(
            json["targets"][0]["steps"].as_array().map(Vec::len),
            Some(3)
        );
        assert!(json["targets"][1]["knee_rate"].is_null());
        let csv = to_csv(std::slice::from_ref(&s));
        assert_eq!(csv.lines().count(), 4);
        let chart = svg(&[s], &plan());
        assert!(chart.starts_with("<svg ") && chart.ends_with("</svg>\n"));
        assert!(chart.contains("knee: 198/s") && chart.contains("SLO p99 10 ms"));
    }
}
