//! Metrics sent to a real UDP listener on 127.0.0.1, and flytekit's own stats client
//! sending to the same kind of listener with the settings `worker_env` gives the worker.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use flyte_telemetry::{
    Direction, LogSettings, MetricScope, Metrics, Outcome, Phase, StatsdSettings, worker_env,
};

fn listener() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP listener");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    (socket, port)
}

/// Every datagram that arrives until the listener has been quiet for 300 ms.
fn received(socket: &UdpSocket) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    lines
}

fn scope() -> MetricScope {
    MetricScope {
        task_project: "FlyteSnacks".into(),
        task_domain: "development".into(),
        task_name: "wf.example.t1".into(),
        exec_project: "flytesnacks".into(),
        exec_domain: "development".into(),
        exec_workflow: "wf.example.my_wf".into(),
        exec_launchplan: "wf.example.my_lp".into(),
    }
}

fn settings(port: u16) -> StatsdSettings {
    StatsdSettings {
        host: "127.0.0.1".into(),
        port,
        disabled: false,
        disable_tags: false,
    }
}

fn send_a_run(metrics: &Metrics) {
    metrics.phase(Phase::InputsDownload, Duration::from_millis(12));
    metrics.phase(Phase::WorkerStart, Duration::from_millis(1100));
    metrics.phase(Phase::TaskExecution, Duration::from_millis(1520));
    metrics.phase(Phase::OutputsUpload, Duration::from_millis(7));
    metrics.bytes(Direction::Download, 2048);
    metrics.bytes(Direction::Upload, 512);
    metrics.outcome(Outcome::Success);
    metrics.outcome(Outcome::UserError);
    metrics.outcome(Outcome::SystemError);
    metrics.outcome(Outcome::WorkerDied);
}

const TAGS: &str = ".__exec_domain=development.__exec_launchplan=wf_example_my_lp\
                    .__exec_project=flytesnacks.__exec_workflow=wf_example_my_wf";

#[test]
fn a_run_sends_phase_timers_byte_counters_and_outcomes_with_flytekit_names_and_tags() {
    let (socket, port) = listener();
    let metrics = Metrics::new(&settings(port), &scope()).expect("metrics");
    send_a_run(&metrics);
    let p = "flytesnacks.development.wf.example.t1.entrypoint";
    let want: Vec<String> = [
        format!("{p}.inputs_download{TAGS}:12|ms"),
        format!("{p}.worker_start{TAGS}:1100|ms"),
        format!("{p}.task_execution{TAGS}:1520|ms"),
        format!("{p}.outputs_upload{TAGS}:7|ms"),
        format!("{p}.bytes_downloaded{TAGS}:2048|c"),
        format!("{p}.bytes_uploaded{TAGS}:512|c"),
        format!("{p}.outcome.success{TAGS}:1|c"),
        format!("{p}.outcome.user_error{TAGS}:1|c"),
        format!("{p}.outcome.system_error{TAGS}:1|c"),
        format!("{p}.outcome.worker_died{TAGS}:1|c"),
    ]
    .into();
    assert_eq!(received(&socket), want);
}

#[test]
fn a_phase_timer_records_only_when_finished() {
    let (socket, port) = listener();
    let metrics = Metrics::new(&settings(port), &scope()).expect("metrics");
    drop(metrics.start(Phase::OutputsUpload));
    let elapsed = metrics.start(Phase::InputsDownload).finish();
    let lines = received(&socket);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(".entrypoint.inputs_download.__"),
        "{lines:?}"
    );
    assert!(
        lines[0].ends_with(&format!(":{}|ms", elapsed.as_millis())),
        "{lines:?}"
    );
}

#[test]
fn disable_tags_sends_bare_names() {
    let (socket, port) = listener();
    let metrics = Metrics::new(
        &StatsdSettings {
            disable_tags: true,
            ..settings(port)
        },
        &scope(),
    )
    .expect("metrics");
    send_a_run(&metrics);
    let lines = received(&socket);
    assert_eq!(lines.len(), 10);
    assert!(lines.iter().all(|l| !l.contains(".__")), "{lines:?}");
    assert_eq!(
        lines[0],
        "flytesnacks.development.wf.example.t1.entrypoint.inputs_download:12|ms"
    );
}

#[test]
fn disabled_sends_nothing() {
    let (socket, port) = listener();
    let metrics = Metrics::new(
        &StatsdSettings {
            disabled: true,
            ..settings(port)
        },
        &scope(),
    )
    .expect("metrics");
    send_a_run(&metrics);
    assert_eq!(received(&socket), Vec::<String>::new());
}

#[test]
fn localhost_resolves_to_ipv4_as_pythons_statsd_client_does() {
    let (socket, port) = listener();
    let metrics = Metrics::new(
        &StatsdSettings {
            host: "localhost".into(),
            ..settings(port)
        },
        &scope(),
    )
    .expect("metrics");
    metrics.outcome(Outcome::Success);
    assert_eq!(received(&socket).len(), 1);
}

#[test]
fn an_unresolvable_host_is_an_error_naming_it() {
    let error = Metrics::new(
        &StatsdSettings {
            host: "no-such-host.invalid".into(),
            ..settings(8125)
        },
        &scope(),
    )
    .expect_err("does not resolve");
    assert!(
        error.to_string().contains("no-such-host.invalid:8125"),
        "{error}"
    );
}

/// flytekit's user-space stats client, configured only by `worker_env`, sends to our
/// listener under the same prefix and tag conventions our metrics use.
#[test]
fn the_workers_flytekit_stats_client_follows_the_same_settings_and_conventions() {
    let (socket, port) = listener();
    for disable_tags in [false, true] {
        let statsd = StatsdSettings {
            disable_tags,
            ..settings(port)
        };
        let script = r#"
from flytekit.configuration import StatsConfig
from flytekit.interfaces.stats.taggable import get_stats
cfg = StatsConfig.auto()
stats = get_stats(cfg, prefix="FlyteSnacks.development.wf.example.t1.user_stats", tags={
    "exec_project": "flytesnacks", "exec_domain": "development",
    "exec_workflow": "wf.example.my_wf", "exec_launchplan": "wf.example.my_lp"})
stats.incr("rows")
"#;
        let output = Command::new(flyte_test_support::python())
            .args(["-c", script])
            .env_clear()
            .env("HOME", std::env::temp_dir())
            .env("FLYTE_INTERNAL_EXECUTION_ID", "x")
            .envs(worker_env(&LogSettings::default(), &statsd))
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs = received(&socket);
        let ours = Metrics::new(&statsd, &scope())
            .expect("metrics")
            .full_name("user_stats.rows")
            .expect("enabled");
        assert_eq!(
            theirs,
            [format!("{ours}:1|c")],
            "disable_tags={disable_tags}"
        );
    }
}
