//! One measured process: its wall time and peak RSS (`/usr/bin/time -v`), for ours also
//! the supervisor's and the worker's own peaks (from its log) and the per-phase timings
//! (from the statsd timers it sends, see [`StatsdListener`]).

use std::net::UdpSocket;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Who ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tool {
    /// `python -c "import flytekit, <task module>"`: what no entrypoint can go below.
    Floor,
    /// Our pyflyte-execute.
    Ours,
    /// flytekit's pyflyte-execute.
    Flytekit,
    /// `rclone copy` moving the same bytes.
    Rclone,
}

impl Tool {
    /// The name in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::Ours => "ours",
            Tool::Flytekit => "flytekit",
            Tool::Rclone => "rclone",
        }
    }
}

/// Where the time of one run of ours went, in seconds. `worker_ready` and `inputs` run
/// at the same time; the others follow one another.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Phases {
    /// From spawning the process until `run_task` starts (exec, settings, storage
    /// clients, the tokio runtime).
    pub process_start: f64,
    /// `entrypoint.worker_start`: the Python worker has imported flytekit and loaded the task.
    pub worker_ready: f64,
    /// `entrypoint.inputs_download`: inputs.pb fetched and parsed.
    pub inputs: f64,
    /// `entrypoint.task_execution`: the task ran, its outputs converted (and offloaded).
    pub task: f64,
    /// `entrypoint.outputs_upload`: outputs.pb (or the error document) written.
    pub outputs: f64,
    /// From the last timer until the process has exited (worker shutdown, teardown).
    pub exit: f64,
}

impl Phases {
    /// The names of the fields, in order, for table headers.
    pub const NAMES: [&'static str; 6] = [
        "process start",
        "worker ready",
        "inputs",
        "task",
        "outputs",
        "exit",
    ];

    /// The fields in the order of [`Phases::NAMES`].
    pub fn values(&self) -> [f64; 6] {
        [
            self.process_start,
            self.worker_ready,
            self.inputs,
            self.task,
            self.outputs,
            self.exit,
        ]
    }

    /// Splits one run from the statsd timers it sent: `timers` holds, per datagram, the
    /// seconds from spawning the process until it arrived and its text; `wall` is the
    /// seconds from spawning until the process had exited. `None` when a timer is missing.
    pub fn from_timers(timers: &[(f64, String)], wall: f64) -> Option<Phases> {
        let find = |wanted: &str| {
            timers.iter().find_map(|(arrived, text)| {
                text.lines()
                    .filter_map(parse_timer)
                    .find(|(name, _)| *name == wanted)
                    .map(|(_, seconds)| (*arrived, seconds))
            })
        };
        let (worker_arrived, worker_ready) = find("worker_start")?;
        let (inputs_arrived, inputs) = find("inputs_download")?;
        let (_, task) = find("task_execution")?;
        let (outputs_arrived, outputs) = find("outputs_upload")?;
        // Both timers start as run_task starts; each arrives as it stops.
        let run_started = (worker_arrived - worker_ready).min(inputs_arrived - inputs);
        Some(Phases {
            process_start: run_started.max(0.0),
            worker_ready,
            inputs,
            task,
            outputs,
            exit: (wall - outputs_arrived).max(0.0),
        })
    }
}

/// `(name, seconds)` of one statsd timer line of ours: `<prefix>.entrypoint.<name>[.__tag=v…]:<ms>|ms`.
fn parse_timer(line: &str) -> Option<(&str, f64)> {
    let (metric, rest) = line.split_once(':')?;
    let (value, kind) = rest.split_once('|')?;
    if !kind.starts_with("ms") {
        return None;
    }
    let name = metric.split_once("entrypoint.")?.1;
    let name = name.split('.').next()?;
    Some((name, value.parse::<f64>().ok()? / 1000.0))
}

/// What one run cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds from spawning until the process had exited.
    pub seconds: f64,
    /// The peak RSS of the largest process of the tree (`/usr/bin/time -v`).
    pub peak_rss_kib: u64,
    /// User plus system CPU seconds of the whole process tree (`/usr/bin/time -v`
    /// counts every descendant that was waited for: ours' Python worker too).
    pub cpu_seconds: f64,
    /// Ours only: the supervisor's own peak, from its log.
    pub supervisor_kib: Option<u64>,
    /// Ours only: the worker's own peak, from its log.
    pub worker_kib: Option<u64>,
    /// Ours only, when it sent its statsd timers.
    pub phases: Option<Phases>,
}

/// A UDP socket on 127.0.0.1 collecting statsd datagrams with their arrival time, from
/// a thread of its own, for the whole bench.
pub struct StatsdListener {
    port: u16,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl StatsdListener {
    /// Binds a free port and starts receiving.
    pub fn start() -> Result<StatsdListener> {
        let socket = UdpSocket::bind("127.0.0.1:0").context("binding the statsd listener")?;
        let port = socket.local_addr()?.port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 65536];
            while let Ok(length) = socket.recv(&mut buffer) {
                let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((Instant::now(), text));
            }
        });
        Ok(StatsdListener { port, received })
    }

    /// The port to send to (`FLYTE_STATSD_PORT`).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn take_since(&self, since: Instant) -> Vec<(f64, String)> {
        let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        received
            .drain(..)
            .filter(|(at, _)| *at >= since)
            .map(|(at, text)| ((at - since).as_secs_f64(), text))
            .collect()
    }
}

/// Runs `program` with its arguments and settings from `command` under `/usr/bin/time -v`
/// and measures it; fails with the tail of its stderr when it fails.
pub fn measure(command: &Command, statsd: &StatsdListener) -> Result<Sample> {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    // Datagrams of an earlier run that arrive late belong to nobody.
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    statsd.take_since(started);
    let output = timed
        .output()
        .with_context(|| format!("running {command:?} under /usr/bin/time"))?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{:?} failed ({}):\n{}{}",
            command.get_program(),
            output.status,
            tail(&String::from_utf8_lossy(&output.stdout)),
            tail(&stderr)
        );
    }
    let peak_rss_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .context("/usr/bin/time printed no maximum resident set size")?
        .trim()
        .parse()?;
    let time_field = |name: &str| -> Result<f64> {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .with_context(|| format!("/usr/bin/time printed no {name:?}"))?
            .trim()
            .parse::<f64>()
            .with_context(|| format!("/usr/bin/time's {name:?}"))
    };
    let cpu_seconds = time_field("User time (seconds):")? + time_field("System time (seconds):")?;
    // Ours logs both of its own peaks as JSON fields of one line.
    let logged = |name: &str| -> Option<u64> {
        stderr
            .lines()
            .filter(|l| l.contains(name))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get(name)?.as_u64())
    };
    // The last timer may still be in flight when the process is reaped.
    std::thread::sleep(Duration::from_millis(20));
    let timers = statsd.take_since(started);
    Ok(Sample {
        seconds,
        peak_rss_kib,
        cpu_seconds,
        supervisor_kib: logged("supervisor_peak_rss_kib"),
        worker_kib: logged("worker_peak_rss_kib"),
        phases: Phases::from_timers(&timers, seconds),
    })
}

/// The CPU seconds (user + system) the shaping proxy's threads have used so far: the
/// threads of this process named `shaper` (the proxy runs inside the bench).
pub fn shaper_cpu_seconds() -> Result<f64> {
    let mut ticks = 0;
    for thread in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
        let thread = thread?.path();
        let Ok(stat) = std::fs::read_to_string(thread.join("stat")) else {
            continue; // The thread ended in between.
        };
        if let Some((name, used)) = thread_cpu_ticks(&stat)
            && name.starts_with("shaper")
        {
            ticks += used;
        }
    }
    // Linux reports these in USER_HZ, 100 a second on every architecture it runs on.
    Ok(ticks as f64 / 100.0)
}

/// A thread's name and its user + system clock ticks, from its `/proc/.../stat` line:
/// `pid (name) state ppid ... utime stime ...` (fields 14 and 15; the name may hold
/// spaces and parentheses, so the fields are counted after the last `)`).
fn thread_cpu_ticks(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    let mut fields = stat[close + 1..].split_whitespace();
    // After the name: state (3), ppid (4), ... utime is field 14, the 12th after it.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, utime + stime))
}

/// The last 30 lines of `text`, for error messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut tail = lines[lines.len().saturating_sub(30)..].join("\n");
    tail.push('\n');
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(arrived: f64, text: &str) -> (f64, String) {
        (arrived, text.to_owned())
    }

    #[test]
    fn phases_are_split_from_the_arrival_of_each_timer() {
        let timers = [
            datagram(
                0.30,
                "p.d.t.entrypoint.inputs_download.__exec_domain=dev:100|ms",
            ),
            datagram(1.30, "p.d.t.entrypoint.worker_start:1200|ms"),
            datagram(1.35, "p.d.t.entrypoint.bytes_downloaded:57|c"),
            datagram(1.80, "p.d.t.entrypoint.task_execution:500|ms"),
            datagram(1.90, "p.d.t.entrypoint.outputs_upload:100|ms"),
        ];
        let phases = Phases::from_timers(&timers, 2.0).expect("every timer arrived");
        let rounded = phases.values().map(|v| (v * 1000.0).round() / 1000.0);
        // run_task started at 1.30 - 1.2 = 0.10 s; the process was gone 0.10 s after the
        // last timer.
        assert_eq!(rounded, [0.1, 1.2, 0.1, 0.5, 0.1, 0.1]);
    }

    #[test]
    fn a_run_without_every_timer_has_no_phases() {
        let timers = [datagram(1.0, "p.d.t.entrypoint.worker_start:900|ms")];
        assert_eq!(Phases::from_timers(&timers, 2.0), None);
    }

    #[test]
    fn a_thread_s_cpu_is_its_user_and_system_ticks() {
        let stat = "4242 (shaper (x) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 2 0";
        assert_eq!(thread_cpu_ticks(stat), Some(("shaper (x) 1", 325)));
        assert_eq!(thread_cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn counters_and_other_metrics_are_not_timers() {
        assert_eq!(parse_timer("a.entrypoint.bytes_uploaded:5|c"), None);
        assert_eq!(parse_timer("a.user_stats.x:5|ms"), None);
        assert_eq!(
            parse_timer("..entrypoint.task_execution:250|ms"),
            Some(("task_execution", 0.25))
        );
    }
}
