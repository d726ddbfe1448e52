//! The bench's results as Markdown tables: printed at the end of a run and written into
//! docs/benchmarks.md by the full run.

use std::fmt::Write;

use crate::bench::measure::{Phases, Sample, Tool};
use crate::bench::stats::{Summary, cpu_seconds_per_gib, mib_per_second};

/// Which way the bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// A task writing an output (an upload).
    Write,
    /// A task reading an input (a download).
    Read,
}

impl Way {
    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Way::Write => "write",
            Way::Read => "read",
        }
    }
}

/// The repeated runs of one tool on one case.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// "trivial task", "2 GiB FlyteFile", ...
    pub case: String,
    /// `None` for start-up runs.
    pub way: Option<Way>,
    /// The store's label.
    pub store: &'static str,
    /// Who ran.
    pub tool: Tool,
    /// The bytes a transfer moved.
    pub bytes: Option<u64>,
    /// One per run that succeeded.
    pub samples: Vec<Sample>,
    /// One error per run that failed.
    pub failures: Vec<String>,
    /// The CPU seconds (median) this tool spends on a trivial task on the same store,
    /// taken off each transfer's CPU: `Some(0.0)` for rclone, which has no start-up to
    /// speak of; `None` when not measured.
    pub cpu_floor: Option<f64>,
}

impl Measurement {
    /// The summary of the wall times.
    pub fn seconds(&self) -> Option<Summary> {
        Summary::of(&self.samples.iter().map(|s| s.seconds).collect::<Vec<_>>())
    }

    /// Throughput at the median wall time.
    pub fn mib_per_second(&self) -> Option<f64> {
        Some(mib_per_second(self.bytes?, self.seconds()?.median))
    }

    /// The summary of the process tree's CPU seconds (user + system).
    pub fn cpu_seconds(&self) -> Option<Summary> {
        Summary::of(
            &self
                .samples
                .iter()
                .map(|s| s.cpu_seconds)
                .collect::<Vec<_>>(),
        )
    }

    /// CPU seconds per GiB moved, at the median CPU, less the tool's floor.
    pub fn cpu_per_gib(&self) -> Option<f64> {
        Some(cpu_seconds_per_gib(
            self.cpu_seconds()?.median,
            self.cpu_floor?,
            self.bytes?,
        ))
    }

    fn largest(&self, field: impl Fn(&Sample) -> Option<u64>) -> Option<u64> {
        self.samples.iter().filter_map(field).max()
    }

    /// Peak RSS in MiB, as shown: the largest over the runs. For ours the supervisor's
    /// and the worker's own, for the others the process's.
    fn peak_rss(&self) -> String {
        let mib = |kib: u64| format!("{}", kib.div_ceil(1024));
        match (
            self.largest(|s| s.supervisor_kib),
            self.largest(|s| s.worker_kib),
        ) {
            (Some(supervisor), Some(worker)) => {
                format!("{} / {}", mib(supervisor), mib(worker))
            }
            _ => self
                .largest(|s| Some(s.peak_rss_kib))
                .map(mib)
                .unwrap_or_default(),
        }
    }
}

fn find<'a>(
    all: &'a [Measurement],
    case: &str,
    way: Option<Way>,
    store: &str,
    tool: Tool,
) -> Option<&'a Measurement> {
    all.iter()
        .find(|m| m.case == case && m.way == way && m.store == store && m.tool == tool)
}

/// The distinct `(case, way, store)` of `all`, in the order they were first measured.
fn groups(all: &[Measurement]) -> Vec<(&str, Option<Way>, &'static str)> {
    let mut groups = Vec::new();
    for m in all {
        let key = (m.case.as_str(), m.way, m.store);
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    groups
}

fn runs_cell(m: &Measurement) -> String {
    match m.failures.len() {
        0 => m.samples.len().to_string(),
        failed => format!("{} ({failed} failed)", m.samples.len()),
    }
}

fn seconds_cell(summary: Option<Summary>) -> String {
    summary.map_or("-".to_owned(), |s| {
        format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
    })
}

fn cpu_cell(per_gib: Option<f64>) -> String {
    per_gib.map_or("-".to_owned(), |c| format!("{c:.2}"))
}

fn ratio_cell(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
        _ => "-".to_owned(),
    }
}

/// Start-up: one row per store, each entrypoint's median wall time (min–max) and its
/// ratio to the floor.
pub fn startup_table(all: &[Measurement]) -> String {
    let mut out = String::from(
        "| store | floor s | flytekit s | flytekit / floor | ours s | ours / floor | ours above floor ms |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (case, way, store) in groups(all).into_iter().filter(|g| g.1.is_none()) {
        let median = |tool| find(all, case, way, store, tool).and_then(Measurement::seconds);
        let (floor, flytekit, ours) = (
            median(Tool::Floor),
            median(Tool::Flytekit),
            median(Tool::Ours),
        );
        let m = |s: Option<Summary>| s.map(|s| s.median);
        let above = match (m(ours), m(floor)) {
            (Some(o), Some(f)) => format!("{:.0}", (o - f) * 1000.0),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {store} | {} | {} | {} | {} | {} | {above} |",
            seconds_cell(floor),
            seconds_cell(flytekit),
            ratio_cell(m(flytekit), m(floor)),
            seconds_cell(ours),
            ratio_cell(m(ours), m(floor)),
        );
    }
    out
}

/// Start-up: where ours spends its time, per store (medians over the runs, in ms).
pub fn phases_table(all: &[Measurement]) -> String {
    let mut out = format!("| store | {} | wall |\n|---", Phases::NAMES.join(" | "));
    out.push_str(&"|---".repeat(Phases::NAMES.len() + 1));
    out.push_str("|\n");
    for m in all
        .iter()
        .filter(|m| m.way.is_none() && m.tool == Tool::Ours)
    {
        let phases: Vec<[f64; 6]> = m
            .samples
            .iter()
            .filter_map(|s| s.phases.map(|p| p.values()))
            .collect();
        let mut row = format!("| {} |", m.store);
        for index in 0..Phases::NAMES.len() {
            let values: Vec<f64> = phases.iter().map(|p| p[index]).collect();
            let cell = Summary::of(&values)
                .map_or("-".to_owned(), |s| format!("{:.0}", s.median * 1000.0));
            let _ = write!(row, " {cell} |");
        }
        let wall = m
            .seconds()
            .map_or("-".to_owned(), |s| format!("{:.0}", s.median * 1000.0));
        let _ = writeln!(out, "{row} {wall} |");
    }
    out
}

/// Transfers at a glance: per case, way and store, each tool's throughput at its median
/// wall time, ours against the goals (5× flytekit, 1× rclone), and each tool's CPU
/// seconds per GiB moved (less its trivial task's).
pub fn throughput_table(all: &[Measurement]) -> String {
    let mut out = String::from(
        "| case | way | store | ours MiB/s | flytekit MiB/s | rclone MiB/s | ours / flytekit (goal ≥ 5) | ours / rclone (goal ≥ 1) | ours CPU s/GiB | flytekit CPU s/GiB | rclone CPU s/GiB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (case, way, store) in groups(all) {
        let Some(way) = way else { continue };
        let rate = |tool| find(all, case, Some(way), store, tool).and_then(|m| m.mib_per_second());
        let (ours, flytekit, rclone) = (rate(Tool::Ours), rate(Tool::Flytekit), rate(Tool::Rclone));
        if flytekit.is_none() && rclone.is_none() {
            continue;
        }
        let cell = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.1}"));
        let cpu = |tool| {
            cpu_cell(find(all, case, Some(way), store, tool).and_then(Measurement::cpu_per_gib))
        };
        let _ = writeln!(
            out,
            "| {case} | {} | {store} | {} | {} | {} | {} | {} | {} | {} | {} |",
            way.label(),
            cell(ours),
            cell(flytekit),
            cell(rclone),
            ratio_cell(ours, flytekit),
            ratio_cell(ours, rclone),
            cpu(Tool::Ours),
            cpu(Tool::Flytekit),
            cpu(Tool::Rclone),
        );
    }
    out
}

/// Every measurement of a transfer: median and range of the wall time, throughput, for
/// ours the task phase (the transfer without start-up), the process tree's CPU (median,
/// the floor taken off, per GiB), and peak RSS (ours: supervisor / worker).
pub fn transfers_table(all: &[Measurement]) -> String {
    let mut out = String::from(
        "| case | way | store | tool | runs | wall s (min–max) | MiB/s | task phase s (MiB/s) | CPU s | CPU floor s | CPU s/GiB | peak RSS MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in all.iter().filter(|m| m.way.is_some()) {
        let task_phase: Vec<f64> = m
            .samples
            .iter()
            .filter_map(|s| s.phases.map(|p| p.task))
            .collect();
        let task_phase = match (Summary::of(&task_phase), m.bytes) {
            (Some(s), Some(bytes)) => {
                format!("{:.2} ({:.1})", s.median, mib_per_second(bytes, s.median))
            }
            _ => "-".to_owned(),
        };
        let seconds = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{s:.2}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {task_phase} | {} | {} | {} | {} |",
            m.case,
            m.way.map(Way::label).unwrap_or_default(),
            m.store,
            m.tool.label(),
            runs_cell(m),
            seconds_cell(m.seconds()),
            m.mib_per_second()
                .map_or("-".to_owned(), |r| format!("{r:.1}")),
            seconds(m.cpu_seconds().map(|s| s.median)),
            seconds(m.cpu_floor),
            cpu_cell(m.cpu_per_gib()),
            m.peak_rss(),
        );
    }
    out
}

/// One rclone read through the shaping proxy, for showing that the proxy is not what
/// limits a run: many streams must reach well above one connection's cap.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyCheck {
    /// rclone's `--multi-thread-streams` (0: one stream).
    pub streams: u32,
    /// The bytes read.
    pub bytes: u64,
    /// rclone's wall time.
    pub seconds: f64,
    /// Connections the proxy accepted during the run.
    pub connections: u64,
    /// CPU seconds the proxy's threads used during the run.
    pub proxy_cpu_seconds: f64,
    /// One connection's cap, bytes per second.
    pub cap_bytes_per_second: u64,
}

/// The proxy's own check: per rclone run, its throughput, that against one connection's
/// cap, and what the proxy's threads spent.
pub fn proxy_table(checks: &[ProxyCheck]) -> String {
    let mut out = String::from(
        "| rclone read | bytes | connections | wall s | MiB/s | × one connection's cap | proxy CPU s | proxy CPU s/GiB |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for check in checks {
        let rate = mib_per_second(check.bytes, check.seconds);
        let cap = check.cap_bytes_per_second as f64 / (1024.0 * 1024.0);
        let streams = match check.streams {
            0 => "one stream".to_owned(),
            n => format!("--multi-thread-streams={n}"),
        };
        let _ = writeln!(
            out,
            "| {streams} | {} MiB | {} | {:.2} | {rate:.1} | {:.2} | {:.2} | {:.2} |",
            check.bytes >> 20,
            check.connections,
            check.seconds,
            rate / cap,
            check.proxy_cpu_seconds,
            cpu_seconds_per_gib(check.proxy_cpu_seconds, 0.0, check.bytes),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64, peak_mib: u64) -> Sample {
        Sample {
            seconds,
            peak_rss_kib: peak_mib * 1024,
            cpu_seconds: 1.0,
            supervisor_kib: None,
            worker_kib: None,
            phases: None,
        }
    }

    fn measured(case: &str, way: Option<Way>, tool: Tool, seconds: &[f64]) -> Measurement {
        Measurement {
            case: case.to_owned(),
            way,
            store: "S3 (moto)",
            tool,
            bytes: way.map(|_| 1 << 30),
            samples: seconds.iter().map(|&s| sample(s, 50)).collect(),
            failures: Vec::new(),
            cpu_floor: None,
        }
    }

    #[test]
    fn the_startup_table_gives_each_entrypoint_against_the_floor() {
        let all = [
            measured("trivial task", None, Tool::Floor, &[1.0, 1.2, 0.9]),
            measured("trivial task", None, Tool::Flytekit, &[1.5, 1.4, 1.6]),
            measured("trivial task", None, Tool::Ours, &[1.1, 1.0, 1.3]),
        ];
        let table = startup_table(&all);
        assert!(
            table.contains(
                "| S3 (moto) | 1.00 (0.90–1.20) | 1.50 (1.40–1.60) | 1.50 | 1.10 (1.00–1.30) | 1.10 | 100 |"
            ),
            "{table}"
        );
    }

    #[test]
    fn the_throughput_table_compares_ours_with_flytekit_and_rclone() {
        let all = [
            measured("1 GiB FlyteFile", Some(Way::Read), Tool::Ours, &[2.0, 2.0]),
            measured("1 GiB FlyteFile", Some(Way::Read), Tool::Flytekit, &[8.0]),
            measured(
                "1 GiB FlyteFile",
                Some(Way::Read),
                Tool::Rclone,
                &[4.0, 3.0, 5.0],
            ),
        ];
        let table = throughput_table(&all);
        assert!(
            table.contains(
                "| 1 GiB FlyteFile | read | S3 (moto) | 512.0 | 128.0 | 256.0 | 4.00 | 2.00 | - | - | - |"
            ),
            "{table}"
        );
    }

    #[test]
    fn ours_shows_the_supervisor_and_the_worker_peak_separately() {
        let mut ours = measured("1 GiB FlyteFile", Some(Way::Write), Tool::Ours, &[1.0]);
        ours.samples[0].supervisor_kib = Some(40 * 1024);
        ours.samples[0].worker_kib = Some(90 * 1024 + 1);
        let table = transfers_table(&[ours]);
        assert!(
            table.contains("| 1 GiB FlyteFile | write | S3 (moto) | ours | 1 | 1.00 (1.00–1.00) | 1024.0 | - | 1.00 | - | - | 40 / 91 |"),
            "{table}"
        );
    }

    #[test]
    fn each_tool_s_cpu_per_gib_is_its_median_cpu_less_its_floor() {
        let with_cpu = |tool, cpu: &[f64], floor| {
            let mut m = measured("1 GiB FlyteFile", Some(Way::Write), tool, &[1.0, 1.0, 1.0]);
            for (sample, &cpu) in m.samples.iter_mut().zip(cpu) {
                sample.cpu_seconds = cpu;
            }
            m.cpu_floor = floor;
            m
        };
        let all = [
            with_cpu(Tool::Ours, &[3.0, 2.5, 9.0], Some(2.0)),
            with_cpu(Tool::Flytekit, &[8.0, 7.0, 9.0], Some(2.5)),
            with_cpu(Tool::Rclone, &[1.25, 1.25, 1.25], Some(0.0)),
        ];
        let table = throughput_table(&all);
        assert!(
            table.contains("| 1.00 | 1.00 | 1.00 | 5.50 | 1.25 |"),
            "{table}"
        );
        let every = transfers_table(&all[..1]);
        assert!(
            every.contains("| 1024.0 | - | 3.00 | 2.00 | 1.00 | 50 |"),
            "{every}"
        );
        let header = every.lines().next().expect("a header");
        let row = every.lines().nth(2).expect("a row");
        assert_eq!(header.matches('|').count(), row.matches('|').count());
    }

    #[test]
    fn a_transfer_without_its_floor_has_no_cpu_per_gib() {
        let m = measured("1 GiB FlyteFile", Some(Way::Read), Tool::Ours, &[1.0]);
        assert_eq!(m.cpu_per_gib(), None);
    }

    #[test]
    fn the_proxy_check_gives_throughput_against_one_connection_s_cap() {
        let table = proxy_table(&[
            ProxyCheck {
                streams: 0,
                bytes: 2 << 30,
                seconds: 32.0,
                connections: 1,
                proxy_cpu_seconds: 1.0,
                cap_bytes_per_second: 64 << 20,
            },
            ProxyCheck {
                streams: 16,
                bytes: 2 << 30,
                seconds: 4.0,
                connections: 17,
                proxy_cpu_seconds: 2.0,
                cap_bytes_per_second: 64 << 20,
            },
        ]);
        assert!(
            table.contains("| one stream | 2048 MiB | 1 | 32.00 | 64.0 | 1.00 | 1.00 | 0.50 |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| --multi-thread-streams=16 | 2048 MiB | 17 | 4.00 | 512.0 | 8.00 | 2.00 | 1.00 |"
            ),
            "{table}"
        );
    }

    #[test]
    fn the_phases_table_has_a_column_per_phase() {
        let mut ours = measured("trivial task", None, Tool::Ours, &[2.0]);
        ours.samples[0].phases = Some(Phases {
            process_start: 0.01,
            worker_ready: 1.5,
            inputs: 0.02,
            task: 0.1,
            outputs: 0.03,
            exit: 0.2,
        });
        let table = phases_table(&[ours]);
        assert!(
            table.contains("| S3 (moto) | 10 | 1500 | 20 | 100 | 30 | 200 | 2000 |"),
            "{table}"
        );
        let header = table.lines().next().expect("a header");
        let rule = table.lines().nth(1).expect("a rule");
        assert_eq!(header.matches('|').count(), rule.matches('|').count());
    }
}
