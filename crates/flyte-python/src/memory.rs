//! The container's memory as its cgroup (v2) counts it, for saying why a worker was
//! SIGKILLed: the kernel's OOM killer leaves no other trace the supervisor can see.

use std::path::{Path, PathBuf};

/// What the cgroup's memory files said at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CgroupMemory {
    /// `memory.events` `oom_kill`: processes the OOM killer has killed in this cgroup.
    pub(crate) oom_kills: Option<u64>,
    /// `memory.peak`: the most memory the cgroup has used, in bytes.
    pub(crate) peak: Option<u64>,
    /// `memory.max`: the limit in bytes; `None` when unlimited or unknown.
    pub(crate) max: Option<u64>,
}

impl CgroupMemory {
    /// Reads this process's own cgroup (where the worker runs too), when it can.
    pub(crate) fn of_this_process() -> Self {
        own_cgroup_dir().map_or_else(Self::default, |dir| Self::read(&dir))
    }

    /// Reads the memory files of the cgroup directory `dir`; missing files read as
    /// unknown.
    pub(crate) fn read(dir: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        CgroupMemory {
            oom_kills: read("memory.events").and_then(|events| {
                events.lines().find_map(|line| {
                    let (key, value) = line.split_once(' ')?;
                    (key == "oom_kill").then(|| value.trim().parse().ok())?
                })
            }),
            peak: read("memory.peak").and_then(|text| text.trim().parse().ok()),
            max: read("memory.max").and_then(|text| text.trim().parse().ok()),
        }
    }

    /// "the container's cgroup counted 1 OOM kill while the task ran (memory.events);
    /// memory.peak 1.9 GiB of memory.max 2.0 GiB", when the OOM kill count went up since
    /// `before`.
    pub(crate) fn oom_kill_since(&self, before: &CgroupMemory) -> Option<String> {
        let kills = self.oom_kills?.checked_sub(before.oom_kills.unwrap_or(0))?;
        if kills == 0 {
            return None;
        }
        let mut report = format!(
            "the container's memory cgroup counted {kills} OOM kill(s) while the task ran \
             (memory.events oom_kill)"
        );
        match (self.peak, self.max) {
            (Some(peak), Some(max)) => report.push_str(&format!(
                "; memory.peak {} of memory.max {}",
                mib(peak),
                mib(max)
            )),
            (Some(peak), None) => report.push_str(&format!("; memory.peak {}", mib(peak))),
            (None, Some(max)) => report.push_str(&format!("; memory.max {}", mib(max))),
            (None, None) => {}
        }
        report.push_str(": the kernel's OOM killer stopped the worker; give the task more memory (its resources' memory limit) or make it use less");
        Some(report)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `/sys/fs/cgroup/<path>` for this process's cgroup v2 path in `/proc/self/cgroup`.
fn own_cgroup_dir() -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    Some(Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cgroup(dir: &Path, oom_kills: u64) {
        std::fs::write(
            dir.join("memory.events"),
            format!("low 0\nhigh 0\nmax 12\noom 3\noom_kill {oom_kills}\noom_group_kill 0\n"),
        )
        .expect("write");
        std::fs::write(dir.join("memory.peak"), "2040109465\n").expect("write");
        std::fs::write(dir.join("memory.max"), "2147483648\n").expect("write");
    }

    #[test]
    fn an_oom_kill_while_the_task_ran_is_reported_with_the_cgroups_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        cgroup(dir.path(), 2);
        let before = CgroupMemory::read(dir.path());
        cgroup(dir.path(), 3);
        let after = CgroupMemory::read(dir.path());
        let report = after.oom_kill_since(&before).expect("an OOM kill");
        assert!(report.contains("1 OOM kill"), "{report}");
        assert!(
            report.contains("memory.peak 1945.6 MiB of memory.max 2048.0 MiB"),
            "{report}"
        );
        assert_eq!(after.oom_kill_since(&after), None, "no new kill, no report");
    }

    #[test]
    fn an_unlimited_or_missing_cgroup_reads_as_unknown() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("memory.max"), "max\n").expect("write");
        let memory = CgroupMemory::read(dir.path());
        assert_eq!(memory, CgroupMemory::default());
        assert_eq!(memory.oom_kill_since(&CgroupMemory::default()), None);
    }
}
