//! How the sidecar knows the task's container has ended. Propeller has used two
//! protocols, and this binary follows whichever the pod was made for:
//!
//! - **`signal`** (propeller 1.16 and later): the sidecar is a Kubernetes native sidecar,
//!   and the kubelet sends it SIGTERM once the pod's main containers have exited.
//! - **`shared-process-ns`** (propeller up to 1.15, flytecopilot's default then): the
//!   sidecar is an ordinary container of a pod whose containers share one process
//!   namespace. The task's container has started once a process of another container is
//!   seen in `/proc`, and has ended once none is left. Processes of other containers are
//!   those whose parent is outside the namespace (parent pid 0), other than this process
//!   and the pod's pause process (pid 1).
//!
//! Whatever the watcher, SIGTERM always ends the wait: the pod is stopping, and what the
//! task wrote is uploaded while there is time.
//!
//! The one file outside flyte-python that handles a signal (`xtask/src/layering.rs`
//! allows it): copilot's protocol with the kubelet is this signal.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// Which watcher to use, as `--start-watcher-type` / `--exit-watcher-type` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watcher {
    /// Wait for SIGTERM.
    Signal,
    /// Watch the shared process namespace; `start_timeout` bounds the wait for the task's
    /// container to start (`None`: no bound), after which the sidecar goes on to wait
    /// for its end as flytecopilot did.
    SharedProcessNamespace {
        /// How long the task's container may take to start.
        start_timeout: Option<Duration>,
    },
    /// Do not wait.
    Noop,
}

impl Watcher {
    /// The watcher a flag's value names: `signal`, `shared-process-ns` or `noop`.
    pub fn parse(text: &str, start_timeout: Option<Duration>) -> Option<Watcher> {
        match text {
            "signal" => Some(Watcher::Signal),
            "shared-process-ns" => Some(Watcher::SharedProcessNamespace { start_timeout }),
            "noop" => Some(Watcher::Noop),
            _ => None,
        }
    }
}

/// How often `/proc` is read, and how many reads in a row must find no process of the
/// task's container before it counts as ended (a read that finds one again starts the
/// count over).
#[derive(Debug, Clone, Copy)]
struct Polling {
    /// Between two reads.
    interval: Duration,
    /// Reads in a row that find nothing.
    empty_reads: u32,
}

impl Default for Polling {
    /// Every 500 ms, 4 empty reads: the task's end is seen within about 2 s, as with
    /// flytecopilot's 2 × 2 s, and a short-lived task's start is rarely missed.
    fn default() -> Self {
        Polling {
            interval: Duration::from_millis(500),
            empty_reads: 4,
        }
    }
}

/// SIGTERM, watched from the moment this is made, so one that arrives while the flags
/// are still being read is not lost (its default action would end the process before
/// anything is uploaded).
pub struct ContainerEnd(tokio::signal::unix::Signal);

impl ContainerEnd {
    /// Starts watching; must be called inside the async runtime.
    pub fn watch() -> io::Result<Self> {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map(ContainerEnd)
    }

    /// Waits until the task's container has ended, as `watcher` tells, or SIGTERM has
    /// arrived (at once if it already has).
    pub async fn wait(mut self, watcher: Watcher) {
        let proc = Path::new("/proc");
        let start_timeout = match watcher {
            Watcher::Noop => return,
            Watcher::Signal => {
                tracing::info!("waiting for the task's container to end (SIGTERM)");
                self.0.recv().await;
                tracing::info!("SIGTERM received: the task's container ended");
                return;
            }
            Watcher::SharedProcessNamespace { start_timeout } => start_timeout,
        };
        if !shares_process_namespace(proc) {
            tracing::warn!(
                "shared-process-ns: this pod does not share its process namespace (pid 1 is \
                 not the pause process), so the task's container cannot be seen; waiting \
                 for SIGTERM instead"
            );
            self.0.recv().await;
            return;
        }
        let lister = ProcessLister::new(proc);
        tokio::select! {
            ended = container_lifetime(|| lister.other_containers(), start_timeout, Polling::default()) => {
                match ended {
                    Ok(()) => tracing::info!("the task's container ended (no process of it is left)"),
                    Err(error) => {
                        tracing::warn!(
                            "shared-process-ns: reading {} failed ({error}); waiting for SIGTERM instead",
                            proc.display()
                        );
                        self.0.recv().await;
                    }
                }
            }
            _ = self.0.recv() => tracing::info!("SIGTERM received: uploading what the task wrote"),
        }
    }
}

/// Whether this process shares its pid namespace with the pod's other containers: then
/// pid 1 is the pod's pause process.
fn shares_process_namespace(proc: &Path) -> bool {
    std::fs::read_to_string(proc.join("1/comm")).is_ok_and(|comm| comm.trim() == "pause")
}

/// Waits for the task's container to start (a process of another container appears;
/// at most `start_timeout`), then for it to end (`polling.empty_reads` reads in a row
/// find none). `count` says how many such processes there are now.
async fn container_lifetime(
    mut count: impl FnMut() -> io::Result<usize>,
    start_timeout: Option<Duration>,
    polling: Polling,
) -> io::Result<()> {
    let deadline = start_timeout.map(|timeout| Instant::now() + timeout);
    tracing::info!("waiting for the task's container to start");
    loop {
        if count()? > 0 {
            tracing::info!("the task's container is running");
            break;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            // As flytecopilot: a container that never showed up (or ended before the
            // first look) is waited for no longer; its outputs are checked as they are.
            tracing::warn!("the task's container was not seen within --start-timeout");
            break;
        }
        tokio::time::sleep(polling.interval).await;
    }
    let mut empty = 0;
    while empty < polling.empty_reads {
        tokio::time::sleep(polling.interval).await;
        empty = if count()? == 0 { empty + 1 } else { 0 };
    }
    Ok(())
}

/// Lists the processes of the pod's other containers under a proc file system.
struct ProcessLister {
    proc: PathBuf,
    own_pid: u32,
}

impl ProcessLister {
    fn new(proc: &Path) -> Self {
        ProcessLister {
            proc: proc.to_owned(),
            own_pid: std::process::id(),
        }
    }

    /// How many processes have their parent outside the namespace (parent pid 0),
    /// leaving out this one and the pause process (pid 1). A process that ends while it
    /// is being read is not counted.
    fn other_containers(&self) -> io::Result<usize> {
        let mut count = 0;
        for entry in std::fs::read_dir(&self.proc)? {
            let entry = entry?;
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == 1 || pid == self.own_pid {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if parent_pid(&stat) == Some(0) {
                count += 1;
            }
        }
        Ok(count)
    }
}

/// The parent pid in a `/proc/<pid>/stat` line: the second field after the command
/// name, which is in parentheses and may itself hold spaces and parentheses.
fn parent_pid(stat: &str) -> Option<u32> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn stat_line(pid: u32, name: &str, ppid: u32) -> String {
        format!("{pid} ({name}) S {ppid} {pid} {pid} 0 -1 4194560 100 0 0 0\n")
    }

    fn fake_proc(processes: &[(u32, &str, u32)]) -> tempfile::TempDir {
        let proc = tempfile::tempdir().expect("tempdir");
        for (pid, name, ppid) in processes {
            let dir = proc.path().join(pid.to_string());
            std::fs::create_dir(&dir).expect("mkdir");
            std::fs::write(dir.join("stat"), stat_line(*pid, name, *ppid)).expect("stat");
            std::fs::write(dir.join("comm"), format!("{name}\n")).expect("comm");
        }
        std::fs::create_dir(proc.path().join("self")).expect("mkdir");
        proc
    }

    #[test]
    fn the_parent_pid_is_read_past_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(parent_pid(&stat_line(7, "my (odd) task", 0)), Some(0));
        assert_eq!(parent_pid(&stat_line(8, "sh", 7)), Some(7));
        assert_eq!(parent_pid("garbage"), None);
    }

    #[test]
    fn only_processes_of_other_containers_count() {
        let own = std::process::id();
        let proc = fake_proc(&[
            (1, "pause", 0),
            (own, "flyte-copilot", 0),
            (40, "python", 0),
            (41, "python", 40),
            (52, "bash", 0),
        ]);
        let lister = ProcessLister::new(proc.path());
        assert_eq!(lister.other_containers().expect("listed"), 2);
        assert!(shares_process_namespace(proc.path()));
        let alone = fake_proc(&[(1, "flyte-copilot", 0)]);
        assert!(!shares_process_namespace(alone.path()));
    }

    const FAST: Polling = Polling {
        interval: Duration::from_millis(1),
        empty_reads: 3,
    };

    /// Runs `container_lifetime` over a scripted sequence of process counts (the last
    /// one repeats); returns how many reads it made.
    async fn reads_until_ended(counts: &[usize], start_timeout: Option<Duration>) -> usize {
        let reads = RefCell::new(0);
        let count = || {
            let mut reads = reads.borrow_mut();
            let value = counts[(*reads).min(counts.len() - 1)];
            *reads += 1;
            Ok(value)
        };
        container_lifetime(count, start_timeout, FAST)
            .await
            .expect("no read fails");
        reads.into_inner()
    }

    #[tokio::test]
    async fn the_end_is_seen_only_after_the_start_and_enough_empty_reads_in_a_row() {
        // Not started (2 reads), running (1), one empty read, running again, then empty.
        let reads = reads_until_ended(&[0, 0, 1, 0, 1, 0], None).await;
        // 3 before the start, then 0 1 0: the gap resets, then 3 empty reads.
        assert_eq!(reads, 3 + 3 + 2);
    }

    #[tokio::test]
    async fn a_container_never_seen_is_waited_for_until_the_start_timeout_only() {
        let started = Instant::now();
        let reads = reads_until_ended(&[0], Some(Duration::from_millis(30))).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(reads >= 3, "{reads}");
    }

    #[tokio::test]
    async fn a_failing_read_is_reported() {
        let result = container_lifetime(|| Err(io::Error::other("gone")), None, FAST).await;
        assert!(result.is_err());
    }
}
