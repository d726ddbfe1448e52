//! The sidecar under propeller 1.15 and earlier: an ordinary container of a pod whose
//! containers share one process namespace, started with `--start-timeout` and no
//! `--timeout`, so it watches the namespace for the task's container (flytecopilot's
//! `shared-process-ns` default then).
//!
//! The pod is staged with util-linux: `unshare --pid --mount-proc` makes a pid namespace
//! whose pid 1 is a program named `pause`, as the pod's pause container is, and
//! `nsenter` starts the sidecar and the "task" in it, so that their parent is outside
//! the namespace, as the container runtime's is. It needs root, as `cargo xtask test`
//! has here.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flyte_proto::core::literal_type::Type;
use flyte_proto::core::{LiteralType, SimpleType};

use support::{base64_of, binary, literal_map, outputs_interface};

/// A pid namespace whose pid 1 is named `pause`; killed (with its processes) on drop.
struct Pod {
    unshare: Child,
    /// pid 1 of the namespace, as this process sees it.
    init_pid: u32,
}

impl Pod {
    fn start(scratch: &Path) -> Pod {
        let pause = scratch.join("pause");
        std::fs::copy("/bin/sleep", &pause).expect("copy sleep as pause");
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(&pause)
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare starts (util-linux)");
        let deadline = Instant::now() + Duration::from_secs(10);
        let init_pid = loop {
            if let Some(pid) = child_of(unshare.id()) {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "unshare --pid made no namespace: this test needs root"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Pod { unshare, init_pid }
    }

    /// `program` started inside the namespace, as a container's first process is.
    fn enter(&self, program: &Path) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.init_pid.to_string(), "-p", "-m", "--"])
            .arg(program);
        command
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// The pid of a process whose parent is `parent`.
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn the_sidecar_waits_for_the_task_in_the_shared_namespace_to_start_and_end() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = |name: &str| -> PathBuf {
        let path = scratch.path().join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        path
    };
    let (outputs, prefix, raw) = (dir("outputs"), dir("prefix"), dir("raw"));
    let pod = Pod::start(scratch.path());
    let interface = outputs_interface(&[(
        "out",
        LiteralType {
            r#type: Some(Type::Simple(SimpleType::Integer as i32)),
            ..Default::default()
        },
    )]);
    // What propeller 1.15 passes: --start-timeout, no --timeout, no watcher flag.
    let mut sidecar = pod
        .enter(&binary())
        .arg("sidecar")
        .args(["--start-timeout", "100s"])
        .arg("--to-raw-output")
        .arg(&raw)
        .arg("--to-output-prefix")
        .arg(&prefix)
        .arg("--from-local-dir")
        .arg(&outputs)
        .args(["--interface", &base64_of(&interface)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sidecar starts");

    // The task's container has not started: the sidecar must not conclude anything.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        sidecar.try_wait().expect("wait").is_none(),
        "the sidecar ended before the task started"
    );
    // The task: runs a while, then writes its output and exits.
    let script = format!("sleep 3; echo 42 > {}/out", outputs.display());
    let mut task = pod
        .enter(Path::new("/bin/sh"))
        .args(["-c", &script])
        .spawn()
        .expect("the task starts");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        sidecar.try_wait().expect("wait").is_none(),
        "the sidecar ended while the task ran"
    );
    assert!(task.wait().expect("the task ends").success());

    let status = wait_with_timeout(&mut sidecar, Duration::from_secs(30));
    let stderr = {
        use std::io::Read;
        let mut text = String::new();
        if status.is_some() {
            let _ = sidecar
                .stderr
                .take()
                .expect("piped")
                .read_to_string(&mut text);
        } else {
            let _ = sidecar.kill();
        }
        text
    };
    let status = status.unwrap_or_else(|| panic!("the sidecar did not see the task end: {stderr}"));
    assert!(status.success(), "{stderr}");
    assert_eq!(
        literal_map(&prefix.join("outputs.pb")).literals["out"].as_integer(),
        Some(42),
        "{stderr}"
    );
}
