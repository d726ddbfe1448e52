//! `cargo xtask bench [--quick] [--runs N] [startup] [transfers] [cloud] [memory]
//! [file] [directory] [dataframe] [ours] [flytekit] [rclone]`: issue 11's and issue 21's
//! measurements, release builds as shipped. A report, never a timed test: nothing fails
//! on speed.
//!
//! - **startup**: a trivial task (int in, int out) on local files, S3 (moto), GCS
//!   (fake-gcs-server) and Azure (Azurite), flytekit's pyflyte-execute and ours against
//!   the floor `python -c "import flytekit, startup_tasks"`, with ours split into phases
//!   from its statsd timers.
//! - **transfers**: a task writing and a task reading a 2 GiB FlyteFile, a FlyteDirectory
//!   of 10,000 files of 10 KiB and a 1M-row DataFrame, ours and flytekit, and `rclone
//!   copy` moving the same bytes, on Garage (a production S3 server in Rust, started by
//!   the bench); with each tool's CPU seconds per GiB moved.
//! - **cloud**: the same transfers through the shaping proxy ([`crate::shaper`]: each
//!   connection capped, a delay before each response's first byte), after rclone shows
//!   that the proxy is not what limits many streams.
//! - **memory**: ours writing and reading a 10 GiB file and a 100,000-file directory on
//!   Garage: the supervisor's and the worker's peak RSS.
//!
//! Within a case the tools take turns run by run (A B C, B C A, ...), so that a load
//! change on this shared machine hits them alike. `--quick` is a subset (start-up on
//! local files and moto, smaller transfers direct and through the proxy) in under five
//! minutes. A full run rewrites the tables of docs/benchmarks.md and its chart; `cargo
//! xtask bench tune-rclone` tries rclone settings.

pub mod chart;
pub mod measure;
pub mod report;
pub mod stats;
pub mod stores;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use flyte_proto::literal;

use crate::bench::measure::{Sample, StatsdListener, Tool};
use crate::bench::report::{Measurement, ProxyCheck, Way};
use crate::bench::stores::{GarageServer, Store};
use crate::bench_tasks::{self, Expect, Runner, TaskRun};
use crate::emulators::{Emulators, Which};
use crate::shaper::{Shape, Shaper};
use crate::{python_env, test::cargo};

/// The sizes and repetitions of one kind of run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    startup_runs: usize,
    transfer_runs: usize,
    /// Runs per tool and case through the shaping proxy, where each run is slower.
    cloud_runs: usize,
    file_mib: u64,
    directory_files: u64,
    directory_file_kib: u64,
    frame_rows: u64,
    memory_file_mib: u64,
    memory_files: u64,
}

const FULL: Plan = Plan {
    quick: false,
    startup_runs: 7,
    transfer_runs: 3,
    cloud_runs: 2,
    file_mib: 2048,
    directory_files: 10_000,
    directory_file_kib: 10,
    frame_rows: 1_000_000,
    memory_file_mib: 10 << 10,
    memory_files: 100_000,
};

const QUICK: Plan = Plan {
    quick: true,
    startup_runs: 3,
    transfer_runs: 1,
    cloud_runs: 1,
    file_mib: 256,
    directory_files: 1_000,
    directory_file_kib: 10,
    frame_rows: 100_000,
    memory_file_mib: 0,
    memory_files: 0,
};

/// rclone's stream counts for the proxy's own check: one connection, then many.
const PROXY_CHECK_STREAMS: [u32; 2] = [0, 16];

/// Logging for the transfer runs: ours logs its peaks at INFO, as JSON.
const INFO_JSON: [(&str, &str); 2] = [
    ("FLYTE_SDK_LOGGING_LEVEL", "20"),
    ("FLYTE_SDK_LOGGING_FORMAT", "json"),
];

/// Which parts to run.
#[derive(Debug, Clone, Copy)]
struct Sections {
    startup: bool,
    transfers: bool,
    cloud: bool,
    memory: bool,
}

/// What a transfer part should run: some cases, some tools.
struct Selection {
    cases: Vec<&'static str>,
    tools: Vec<Tool>,
}

/// Runs the bench as `args` ask and prints (and, for a full run, writes) the report.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut plan = FULL;
    let mut chosen = Vec::new();
    let mut runs = None;
    let mut selection = Selection {
        cases: Vec::new(),
        tools: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => plan = QUICK,
            "--runs" => {
                let n = args.next().and_then(|n| n.parse::<usize>().ok());
                runs = Some(
                    n.filter(|&n| n > 0)
                        .context("--runs takes a number of runs")?,
                );
            }
            "startup" | "transfers" | "cloud" | "memory" | "tune-rclone" => {
                chosen.push(arg.as_str())
            }
            // One transfer case only, for working on it: the others are not rewritten.
            "file" => selection.cases.push("file"),
            "directory" => selection.cases.push("directory"),
            "dataframe" => selection.cases.push("dataframe"),
            // Some tools only, for comparing versions of ours: nothing is rewritten.
            "ours" => selection.tools.push(Tool::Ours),
            "flytekit" => selection.tools.push(Tool::Flytekit),
            "rclone" => selection.tools.push(Tool::Rclone),
            other => bail!(
                "unknown bench argument {other:?}: expected --quick, --runs N, startup, transfers, cloud, memory, tune-rclone, file, directory, dataframe, ours, flytekit or rclone"
            ),
        }
    }
    let partial = !selection.cases.is_empty() || !selection.tools.is_empty();
    if selection.tools.is_empty() {
        selection.tools = vec![Tool::Ours, Tool::Flytekit, Tool::Rclone];
    }
    if let Some(runs) = runs {
        // Fewer runs for a loaded machine or a hurry; more for a quiet one.
        plan.startup_runs = runs;
        plan.transfer_runs = runs;
        plan.cloud_runs = runs;
    }
    let all = chosen.is_empty();
    let sections = Sections {
        startup: all || chosen.contains(&"startup"),
        transfers: all || chosen.contains(&"transfers"),
        cloud: all || chosen.contains(&"cloud"),
        memory: !plan.quick && (all || chosen.contains(&"memory")),
    };
    for tool in ["/usr/bin/time", "rclone"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("{tool} is missing: install the Debian packages `time` and `rclone`");
        }
    }

    // The commit built, before anything can change the tree during a long run.
    let commit = commit_measured(root);
    // Measured as shipped: an optimised build.
    python_env::run(cargo().current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "pyflyte-execute",
    ]))?;
    let python = python_env::ensure(root)?;
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let statsd = StatsdListener::start()?;
    let mut runner = Runner {
        ours: root.join("target/release/pyflyte-execute"),
        flytekit: python.with_file_name("pyflyte-execute"),
        python: python.clone(),
        tasks_dir: root.join("xtask/bench"),
        scratch: work.join("scratch"),
        statsd: &statsd,
        rclone_flags: bench_tasks::RCLONE_FLAGS.map(str::to_owned).to_vec(),
    };
    // Compiled once, as on a user's machine, not inside the first measured run.
    python_env::run(
        Command::new(&python)
            .args(["-c", "import startup_tasks, bench_tasks"])
            .current_dir(&runner.tasks_dir),
    )?;

    let garage = GarageServer::start(root)?;
    let garage_store = Store::garage(&garage);
    if chosen == ["tune-rclone"] {
        return tune_rclone(&mut runner, &garage_store, &work.join("data"));
    }

    let mut results: Vec<Measurement> = Vec::new();
    let mut checks: Vec<ProxyCheck> = Vec::new();
    let mut loads = vec![format!("before: {}", load_average())];
    // Each part's duration beside the load after it, for planning a full run.
    let mut part_started = Instant::now();
    let after = |part: &str, started: &mut Instant| {
        let line = format!(
            "after {part} ({}): {}",
            minutes(started.elapsed().as_secs()),
            load_average()
        );
        *started = Instant::now();
        line
    };
    let mut failures: Vec<String> = Vec::new();

    if sections.startup {
        // moto stays for start-up, where a request's cost is what shows; the emulators
        // run only for this part.
        let which = if plan.quick {
            Which::S3Only
        } else {
            Which::All
        };
        let emulators = Emulators::start(root, which)?;
        let mut stores = vec![Store::local(&work.join("local-store"))?];
        if plan.quick {
            stores.push(Store::moto(&emulators)?);
        } else {
            stores.extend([
                Store::moto(&emulators)?,
                Store::gcs(&emulators)?,
                Store::azure(&emulators, root, &python)?,
            ]);
        }
        for store in &stores {
            let measured = store
                .create_bucket()
                .and_then(|()| startup(&runner, store, plan.startup_runs, &work));
            keep(measured, &mut results, &mut failures, "start-up", store);
        }
        drop(emulators);
        loads.push(after("start-up", &mut part_started));
    }
    if sections.transfers || sections.cloud {
        let data: Vec<Data> = transfer_data(&runner, &plan, &work.join("data"))?
            .into_iter()
            .filter(|case| selection.cases.is_empty() || selection.cases.contains(&case.kind))
            .collect();
        if sections.transfers {
            transfers_on(
                &runner,
                &garage_store,
                plan.transfer_runs,
                &work,
                &data,
                &selection.tools,
                (&mut results, &mut failures),
            );
            loads.push(after("transfers", &mut part_started));
        }
        if sections.cloud {
            let shaper = Shaper::start(garage.s3_addr, Shape::CLOUD)?;
            let cloud = Store::garage_through(shaper.addr(), garage.s3_addr);
            println!(
                "shaping proxy on {} -> {}: {} MiB/s per connection, {} ms to first byte",
                shaper.addr(),
                garage.s3_addr,
                Shape::CLOUD.bytes_per_second >> 20,
                Shape::CLOUD.first_byte_delay.as_millis()
            );
            if let Some(file) = data.iter().find(|case| case.kind == "file") {
                match proxy_check(&runner, &garage_store, &cloud, &shaper, file) {
                    Ok(measured) => checks = measured,
                    Err(error) => {
                        let failure = format!("the proxy's check: {error:#}");
                        eprintln!("FAILED {failure}");
                        failures.push(failure);
                    }
                }
            }
            transfers_on(
                &runner,
                &cloud,
                plan.cloud_runs,
                &work,
                &data,
                &selection.tools,
                (&mut results, &mut failures),
            );
            loads.push(after("the cloud-like link", &mut part_started));
        }
    }
    if sections.memory {
        // Both on Garage: it lists 100,000 keys in about 3 s (s3s-fs walked its whole
        // bucket for every page of a listing, so the directory case used to run on moto).
        for kind in [MemoryCase::File, MemoryCase::Directory] {
            let measured = memory(&runner, &garage_store, kind, &plan, &work);
            keep(
                measured,
                &mut results,
                &mut failures,
                "memory",
                &garage_store,
            );
        }
        loads.push(after("memory", &mut part_started));
    }
    drop(garage);

    // After the runs: moto's version is known once the start-up part has installed it.
    let machine = machine_line(root, &python, &commit)?;
    let loads = format!("Load average (1, 5, 15 min) {}.", loads.join("; "));
    let mut rendered = render(&results, &checks, &machine, &loads);
    for failure in &failures {
        rendered.push_str(&format!("**Failed:** {failure}\n\n"));
    }
    println!("\n{rendered}");
    std::fs::write(work.join("report.md"), &rendered)?;
    let chart = chart::throughput_svg(
        &results,
        "Task data throughput: ours, flytekit's pyflyte-execute, rclone",
    );
    std::fs::write(work.join("throughput.svg"), &chart)?;
    println!("written: {}", work.join("report.md").display());
    if !plan.quick && !partial {
        update_docs(root, &results, &checks, &machine, &loads, sections, &chart)?;
    }
    Ok(())
}

/// Every case on one store: first each Python tool's CPU floor there, then the cases.
fn transfers_on(
    runner: &Runner<'_>,
    store: &Store,
    runs: usize,
    work: &Path,
    data: &[Data],
    tools: &[Tool],
    (results, failures): (&mut Vec<Measurement>, &mut Vec<String>),
) {
    let floors = match cpu_floors(runner, store, runs, work, tools) {
        Ok(floors) => floors,
        Err(error) => {
            let failure = format!("CPU floors on {}: {error:#}", store.label);
            eprintln!("FAILED {failure}");
            failures.push(failure);
            Vec::new()
        }
    };
    for case in data {
        let measured = transfers(runner, store, runs, work, case, tools, &floors);
        keep(measured, results, failures, &case.case, store);
    }
}

/// Each Python tool's CPU seconds (median of `runs`) for `bench_tasks.trivial` on
/// `store`: the imports and start-up every transfer run of that tool pays too, taken off
/// its CPU so that what is left is the transfer's. rclone's floor is 0.
fn cpu_floors(
    runner: &Runner<'_>,
    store: &Store,
    runs: usize,
    work: &Path,
    tools: &[Tool],
) -> Result<Vec<(Tool, f64)>> {
    println!(
        "== CPU floor, bench_tasks.trivial, {} ({runs} runs each)",
        store.label
    );
    let local = bench_tasks::write_inputs(
        &work.join("inputs"),
        "floor",
        literal::literal_map([("x", literal::integer(41))]),
    )?;
    store.put(&local, "floor/inputs.pb")?;
    let inputs = store.uri("floor/inputs.pb");
    let python_tools: Vec<Tool> = tools
        .iter()
        .copied()
        .filter(|t| matches!(t, Tool::Ours | Tool::Flytekit))
        .collect();
    let measured = interleaved(&python_tools, runs, |tool, round| {
        runner.task(
            tool,
            store,
            &TaskRun {
                module: "bench_tasks",
                task: "trivial",
                inputs: inputs.clone(),
                prefix: format!("floor/{}-{round}", tool.label()),
                env: &INFO_JSON,
                expect: Expect::Integer(42),
            },
        )
    });
    let mut floors = vec![(Tool::Rclone, 0.0)];
    for (tool, samples, _) in measured {
        let cpu: Vec<f64> = samples.iter().map(|s| s.cpu_seconds).collect();
        if let Some(summary) = stats::Summary::of(&cpu) {
            println!("   {:9} {:.2} s CPU", tool.label(), summary.median);
            floors.push((tool, summary.median));
        }
    }
    Ok(floors)
}

/// rclone reading the case's file through the proxy, first on one stream, then on many:
/// with many, the proxy must carry well above one connection's cap, at a CPU cost of its
/// own that is small next to the tools'.
fn proxy_check(
    runner: &Runner<'_>,
    direct: &Store,
    cloud: &Store,
    shaper: &Shaper,
    file: &Data,
) -> Result<Vec<ProxyCheck>> {
    let remote = "proxy-check/file.bin";
    let local = file.local.to_str().context("a UTF-8 data path")?;
    direct.rclone_run(&["copyto", local, &direct.rclone_path(remote)])?;
    let mut checks = Vec::new();
    for streams in PROXY_CHECK_STREAMS {
        let scratch = runner.fresh_scratch()?;
        let mut command = cloud.rclone();
        command
            .args(["copy", &cloud.rclone_path(remote)])
            .arg(&scratch)
            .args(
                runner
                    .rclone_flags
                    .iter()
                    .filter(|f| !f.starts_with("--multi-thread-")),
            )
            .arg(format!("--multi-thread-streams={streams}"))
            // rclone opens no more streams than the file has parts of the cutoff's size:
            // small parts, so that `--quick`'s 256 MiB gets every stream too.
            .arg("--multi-thread-cutoff=16M");
        let (connections, cpu) = (shaper.connections(), measure::shaper_cpu_seconds()?);
        let sample = measure::measure(&command, runner.statsd)?;
        let check = ProxyCheck {
            streams,
            bytes: file.bytes,
            seconds: sample.seconds,
            connections: shaper.connections() - connections,
            proxy_cpu_seconds: measure::shaper_cpu_seconds()? - cpu,
            cap_bytes_per_second: Shape::CLOUD.bytes_per_second,
        };
        let copied = bench_tasks::size_on_disk(&scratch)?;
        std::fs::remove_dir_all(&scratch)?;
        if copied != file.bytes {
            bail!(
                "rclone read {copied} bytes through the proxy, expected {}",
                file.bytes
            );
        }
        let streams = match streams {
            0 => "one stream".to_owned(),
            n => format!("{n} streams"),
        };
        println!(
            "   rclone, {streams} through the proxy: {:.2} s ({:.0} MiB/s), {} connections, proxy CPU {:.2} s",
            check.seconds,
            stats::mib_per_second(check.bytes, check.seconds),
            check.connections,
            check.proxy_cpu_seconds
        );
        checks.push(check);
    }
    direct.purge("proxy-check")?;
    Ok(checks)
}

/// Adds a part's measurements to `results`, or, when it failed, says so and goes on with
/// the next part: one broken case does not cost an hour of others.
fn keep(
    measured: Result<Vec<Measurement>>,
    results: &mut Vec<Measurement>,
    failures: &mut Vec<String>,
    part: &str,
    store: &Store,
) {
    match measured {
        Ok(measured) => results.extend(measured),
        Err(error) => {
            let failure = format!("{part} on {}: {error:#}", store.label);
            eprintln!("FAILED {failure}");
            failures.push(failure);
        }
    }
}

/// Runs each tool `runs` times on one case, taking turns (A B C, B C A, ...), so that a
/// change of load on the machine hits every tool alike. A failed run is reported and
/// counted, and the others go on: one flaky run does not cost the whole case.
fn interleaved(
    tools: &[Tool],
    runs: usize,
    mut run: impl FnMut(Tool, usize) -> Result<Sample>,
) -> Vec<(Tool, Vec<Sample>, Vec<String>)> {
    let mut measured: Vec<(Tool, Vec<Sample>, Vec<String>)> =
        tools.iter().map(|&t| (t, Vec::new(), Vec::new())).collect();
    for round in 0..runs {
        for turn in 0..tools.len() {
            let index = (round + turn) % tools.len();
            match run(tools[index], round) {
                Ok(sample) => measured[index].1.push(sample),
                Err(error) => {
                    let error = format!("{error:#}");
                    let first_line = error.lines().next().unwrap_or_default();
                    eprintln!(
                        "   FAILED {} (round {round}): {first_line}",
                        tools[index].label()
                    );
                    measured[index].2.push(error);
                }
            }
        }
    }
    measured
}

fn startup(
    runner: &Runner<'_>,
    store: &Store,
    runs: usize,
    work: &Path,
) -> Result<Vec<Measurement>> {
    println!(
        "== start-up, trivial task, {} ({runs} runs each)",
        store.label
    );
    let local = bench_tasks::write_inputs(
        &work.join("inputs"),
        "trivial",
        literal::literal_map([("x", literal::integer(41))]),
    )?;
    let inputs = if store.env.is_empty() {
        local
    } else {
        store.put(&local, "startup/inputs.pb")?;
        store.uri("startup/inputs.pb")
    };
    let task = |tool: Tool, round: usize| {
        if tool == Tool::Floor {
            return runner.floor("startup_tasks");
        }
        let run = TaskRun {
            module: "startup_tasks",
            task: "trivial",
            inputs: inputs.clone(),
            prefix: format!("startup/{}-{round}", tool.label()),
            env: &[],
            expect: Expect::Integer(42),
        };
        runner.task(tool, store, &run)
    };
    let tools = [Tool::Floor, Tool::Flytekit, Tool::Ours];
    // One unmeasured round: caches warm, nothing left over from the store's set-up.
    interleaved(&tools, 1, task);
    let measured = interleaved(&tools, runs, task);
    Ok(measured
        .into_iter()
        .map(|(tool, samples, failures)| {
            print_samples(tool, &samples);
            Measurement {
                case: "trivial task".to_owned(),
                way: None,
                store: store.label,
                tool,
                bytes: None,
                samples,
                failures,
                cpu_floor: None,
            }
        })
        .collect())
}

/// The data one transfer case moves.
struct Data {
    /// What the command line calls it: `file`, `directory` or `dataframe`.
    kind: &'static str,
    case: String,
    /// Local copy: a file or a directory.
    local: PathBuf,
    /// Where the read tasks and rclone read it from, under the store's root.
    remote: String,
    bytes: u64,
    write_task: (&'static str, flyte_proto::core::Literal),
    read_task: &'static str,
    read_input: fn(String) -> flyte_proto::core::Literal,
    read_result: i64,
}

fn transfer_data(runner: &Runner<'_>, plan: &Plan, data_dir: &Path) -> Result<Vec<Data>> {
    let file = data_dir.join(format!("file-{}MiB.bin", plan.file_mib));
    bench_tasks::ensure_file(&file, plan.file_mib, false)?;
    let directory = data_dir.join(format!(
        "dir-{}x{}KiB",
        plan.directory_files, plan.directory_file_kib
    ));
    bench_tasks::ensure_directory(&directory, plan.directory_files, plan.directory_file_kib)?;
    let frame = data_dir.join(format!("frame-{}", plan.frame_rows));
    let parquet = frame.join(bench_tasks::FRAME_FILE);
    bench_tasks::ensure_frame(runner, &frame, plan.frame_rows)?;
    let path = |p: &Path| p.to_str().map(str::to_owned).context("a UTF-8 data path");
    let file_bytes = plan.file_mib << 20;
    let directory_bytes = bench_tasks::size_on_disk(&directory)?;
    Ok(vec![
        Data {
            kind: "file",
            case: format!("{} FlyteFile", size_label(file_bytes)),
            remote: format!("data/{}", file_name(&file)),
            write_task: ("write_file", literal::string(path(&file)?)),
            local: file,
            bytes: file_bytes,
            read_task: "read_file",
            read_input: bench_tasks::file_input,
            read_result: file_bytes as i64,
        },
        Data {
            kind: "directory",
            case: format!("{}-file FlyteDirectory", thousands(plan.directory_files)),
            remote: format!("data/{}", file_name(&directory)),
            write_task: ("write_directory", literal::string(path(&directory)?)),
            local: directory,
            bytes: directory_bytes,
            read_task: "read_directory",
            read_input: bench_tasks::directory_input,
            read_result: directory_bytes as i64,
        },
        Data {
            kind: "dataframe",
            case: format!("{}-row DataFrame", thousands(plan.frame_rows)),
            remote: format!("data/{}", file_name(&frame)),
            write_task: ("write_dataframe", literal::integer(plan.frame_rows as i64)),
            bytes: bench_tasks::size_on_disk(&parquet)?,
            local: frame,
            read_task: "read_dataframe",
            read_input: bench_tasks::frame_input,
            read_result: plan.frame_rows as i64,
        },
    ])
}

/// One case on one store, both ways, every tool.
fn transfers(
    runner: &Runner<'_>,
    store: &Store,
    runs: usize,
    work: &Path,
    case: &Data,
    tools: &[Tool],
    floors: &[(Tool, f64)],
) -> Result<Vec<Measurement>> {
    let mut results = Vec::new();
    // The read runs' input, put there once by rclone.
    store.purge(&case.remote)?;
    let local = case.local.to_str().context("a UTF-8 data path")?;
    let mut destination = store.rclone_path(&case.remote);
    if case.local.is_dir() {
        store.rclone_run(&["copy", local, &destination, "--transfers=16"])?;
        // Named as a directory, rclone does not first HEAD it to see whether it is a
        // file.
        destination.push('/');
    } else {
        store.rclone_run(&["copyto", local, &destination])?;
    }
    for way in [Way::Write, Way::Read] {
        println!(
            "== {}, {}, {} ({} MiB, {} runs each)",
            case.case,
            way.label(),
            store.label,
            case.bytes >> 20,
            runs
        );
        let slug = format!("{}-{}", case.read_task, way.label());
        let inputs = match way {
            Way::Write => bench_tasks::write_inputs(
                &work.join("inputs"),
                &slug,
                literal::literal_map([(input_name(case.write_task.0), case.write_task.1.clone())]),
            )?,
            Way::Read => bench_tasks::write_inputs(
                &work.join("inputs"),
                &slug,
                literal::literal_map([(
                    input_name(case.read_task),
                    (case.read_input)(store.uri(&case.remote)),
                )]),
            )?,
        };
        let measured = interleaved(tools, runs, |tool, round| {
            let prefix = format!("runs/{}-{slug}-{round}", tool.label());
            match (tool, way) {
                (Tool::Rclone, Way::Write) => {
                    let sample = runner.rclone(store, local, &store.rclone_path(&prefix));
                    store.purge(&prefix)?;
                    sample
                }
                (Tool::Rclone, Way::Read) => {
                    let scratch = runner.fresh_scratch()?;
                    let target = scratch.to_str().context("a UTF-8 scratch path")?;
                    let sample = runner.rclone(store, &destination, target);
                    let copied = bench_tasks::size_on_disk(&scratch)?;
                    if copied != case.bytes {
                        bail!(
                            "rclone read {copied} bytes of {}, expected {}",
                            case.case,
                            case.bytes
                        );
                    }
                    std::fs::remove_dir_all(&scratch)?;
                    sample
                }
                (tool, way) => runner.task(
                    tool,
                    store,
                    &TaskRun {
                        module: "bench_tasks",
                        task: match way {
                            Way::Write => case.write_task.0,
                            Way::Read => case.read_task,
                        },
                        inputs: inputs.clone(),
                        prefix,
                        env: &INFO_JSON,
                        expect: match way {
                            Way::Write => Expect::Offloaded,
                            Way::Read => Expect::Integer(case.read_result),
                        },
                    },
                ),
            }
        });
        for (tool, samples, failures) in measured {
            print_samples(tool, &samples);
            results.push(Measurement {
                case: case.case.clone(),
                way: Some(way),
                store: store.label,
                tool,
                bytes: Some(case.bytes),
                samples,
                failures,
                cpu_floor: floors.iter().find(|(t, _)| *t == tool).map(|(_, f)| *f),
            });
        }
    }
    store.purge(&case.remote)?;
    Ok(results)
}

/// The two memory runs: a big file and a directory of many small files.
#[derive(Debug, Clone, Copy)]
enum MemoryCase {
    File,
    Directory,
}

/// Ours alone, once each way, on one of the memory cases.
fn memory(
    runner: &Runner<'_>,
    store: &Store,
    kind: MemoryCase,
    plan: &Plan,
    work: &Path,
) -> Result<Vec<Measurement>> {
    let data_dir = work.join("data");
    let (case, local, (write, read), input) = match kind {
        MemoryCase::File => {
            let file = data_dir.join(format!("sparse-{}MiB.bin", plan.memory_file_mib));
            bench_tasks::ensure_file(&file, plan.memory_file_mib, true)?;
            (
                format!("{} FlyteFile", size_label(plan.memory_file_mib << 20)),
                file,
                ("write_file", "read_file"),
                bench_tasks::file_input as fn(String) -> flyte_proto::core::Literal,
            )
        }
        MemoryCase::Directory => {
            let directory = data_dir.join(format!("dir-{}x1KiB", plan.memory_files));
            bench_tasks::ensure_directory(&directory, plan.memory_files, 1)?;
            (
                format!("{}-file FlyteDirectory", thousands(plan.memory_files)),
                directory,
                ("write_directory", "read_directory"),
                bench_tasks::directory_input as fn(String) -> flyte_proto::core::Literal,
            )
        }
    };
    let bytes = bench_tasks::size_on_disk(&local)?;
    let path = local.to_str().context("a UTF-8 data path")?.to_owned();
    // Read first, from a copy rclone puts in place, then write: the server holds
    // one copy at a time (10 GiB on this machine's shared disk is enough).
    println!("== memory: {case}, read then write, {}", store.label);
    let prefix = format!("memory/{read}-input");
    store.rclone_run(&[
        if local.is_dir() { "copy" } else { "copyto" },
        &path,
        &store.rclone_path(&prefix),
        "--transfers=16",
    ])?;
    let read_inputs = bench_tasks::write_inputs(
        &work.join("inputs"),
        &format!("memory-{read}"),
        literal::literal_map([(input_name(read), input(store.uri(&prefix)))]),
    )?;
    let download = runner.task(
        Tool::Ours,
        store,
        &TaskRun {
            module: "bench_tasks",
            task: read,
            inputs: read_inputs,
            prefix: format!("memory/ours-{read}"),
            env: &INFO_JSON,
            expect: Expect::Integer(bytes as i64),
        },
    );
    store.purge(&prefix)?;
    let inputs = bench_tasks::write_inputs(
        &work.join("inputs"),
        &format!("memory-{write}"),
        literal::literal_map([("path", literal::string(path))]),
    )?;
    let upload = runner.task(
        Tool::Ours,
        store,
        &TaskRun {
            module: "bench_tasks",
            task: write,
            inputs,
            prefix: format!("memory/ours-{write}"),
            env: &INFO_JSON,
            expect: Expect::Offloaded,
        },
    );
    // A failed run is reported in its row; the other way's still counts.
    let mut results = Vec::new();
    for (way, outcome) in [(Way::Write, upload), (Way::Read, download)] {
        let (samples, failures) = match outcome {
            Ok(sample) => (vec![sample], Vec::new()),
            Err(error) => (Vec::new(), vec![format!("{error:#}")]),
        };
        print_samples(Tool::Ours, &samples);
        for failure in &failures {
            println!("FAILED ours, {case}, {way:?}: {failure}");
        }
        results.push(Measurement {
            case: format!("{case} (memory)"),
            way: Some(way),
            store: store.label,
            tool: Tool::Ours,
            bytes: Some(bytes),
            samples,
            failures,
            cpu_floor: None,
        });
    }
    Ok(results)
}

/// The name of the one input of each bench task.
fn input_name(task: &str) -> &'static str {
    match task {
        "write_file" | "write_directory" => "path",
        "write_dataframe" => "rows",
        "read_file" => "f",
        "read_directory" => "d",
        _ => "df",
    }
}

/// Tries rclone settings on Garage with the quick plan's data, and prints each one's
/// wall times, for choosing [`bench_tasks::RCLONE_FLAGS`].
fn tune_rclone(runner: &mut Runner<'_>, store: &Store, data_dir: &Path) -> Result<()> {
    let plan = Plan {
        file_mib: 1024,
        directory_files: 5_000,
        ..QUICK
    };
    let data = transfer_data(runner, &plan, data_dir)?;
    let common = ["--s3-no-check-bucket", "--no-check-dest", "--no-traverse"];
    let candidates: [&[&str]; 7] = [
        &[],
        &[
            "--transfers=16",
            "--checkers=16",
            "--s3-upload-concurrency=4",
            "--s3-chunk-size=8M",
            "--multi-thread-streams=4",
        ],
        &[
            "--transfers=32",
            "--checkers=32",
            "--s3-upload-concurrency=8",
            "--s3-chunk-size=16M",
            "--multi-thread-streams=8",
            "--multi-thread-cutoff=64M",
        ],
        &[
            "--transfers=32",
            "--checkers=32",
            "--s3-upload-concurrency=8",
            "--s3-chunk-size=16M",
            "--multi-thread-streams=8",
            "--multi-thread-cutoff=64M",
            "--s3-disable-checksum",
        ],
        &[
            "--transfers=64",
            "--checkers=64",
            "--s3-upload-concurrency=16",
            "--s3-chunk-size=32M",
            "--multi-thread-streams=16",
            "--multi-thread-cutoff=64M",
            "--s3-disable-checksum",
        ],
        &[
            "--transfers=32",
            "--checkers=32",
            "--s3-upload-concurrency=4",
            "--s3-chunk-size=64M",
            "--multi-thread-streams=4",
            "--multi-thread-cutoff=64M",
            "--s3-disable-checksum",
        ],
        &[
            "--transfers=32",
            "--checkers=32",
            "--s3-upload-concurrency=8",
            "--s3-chunk-size=16M",
            "--multi-thread-streams=8",
            "--multi-thread-cutoff=64M",
            "--s3-disable-checksum",
            "--use-mmap",
        ],
    ];
    for case in data.iter().take(2) {
        let local = case.local.to_str().context("a UTF-8 data path")?;
        for (index, flags) in candidates.iter().enumerate() {
            runner.rclone_flags = common
                .iter()
                .chain(flags.iter())
                .map(|f| (*f).to_owned())
                .collect();
            let mut write = Vec::new();
            let mut read = Vec::new();
            for round in 0..2 {
                let prefix = format!("tune/{index}-{round}");
                write.push(
                    runner
                        .rclone(store, local, &store.rclone_path(&prefix))?
                        .seconds,
                );
                let scratch = runner.fresh_scratch()?;
                read.push(
                    runner
                        .rclone(
                            store,
                            &store.rclone_path(&prefix),
                            &scratch.to_string_lossy(),
                        )?
                        .seconds,
                );
                store.purge(&prefix)?;
            }
            let median = |v: &[f64]| stats::Summary::of(v).map_or(f64::NAN, |s| s.median);
            println!(
                "{}: write {:.2} s ({:.0} MiB/s), read {:.2} s ({:.0} MiB/s) with {}",
                case.case,
                median(&write),
                stats::mib_per_second(case.bytes, median(&write)),
                median(&read),
                stats::mib_per_second(case.bytes, median(&read)),
                runner.rclone_flags.join(" ")
            );
        }
    }
    Ok(())
}

fn print_samples(tool: Tool, samples: &[Sample]) {
    let seconds: Vec<String> = samples
        .iter()
        .map(|s| format!("{:.2}", s.seconds))
        .collect();
    let peak = samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0) >> 10;
    let own = match (
        samples.iter().filter_map(|s| s.supervisor_kib).max(),
        samples.iter().filter_map(|s| s.worker_kib).max(),
    ) {
        (Some(s), Some(w)) => format!(", supervisor {} MiB, worker {} MiB", s >> 10, w >> 10),
        _ => String::new(),
    };
    println!(
        "   {:9} {} s, peak RSS {peak} MiB{own}",
        tool.label(),
        seconds.join(" ")
    );
}

/// The cloud-like link's store label: its measurements get a section of their own.
fn is_cloud(m: &Measurement) -> bool {
    m.store == stores::CLOUD_LABEL
}

fn is_memory(m: &Measurement) -> bool {
    m.case.ends_with("(memory)")
}

fn pick(results: &[Measurement], keep: impl Fn(&Measurement) -> bool) -> Vec<Measurement> {
    results.iter().filter(|m| keep(m)).cloned().collect()
}

fn render(results: &[Measurement], checks: &[ProxyCheck], machine: &str, loads: &str) -> String {
    let startup = pick(results, |m| m.way.is_none());
    let transfers = pick(results, |m| {
        m.way.is_some() && !is_memory(m) && !is_cloud(m)
    });
    let cloud = pick(results, |m| m.way.is_some() && is_cloud(m));
    let memory = pick(results, is_memory);
    let mut out = format!("{machine}\n{loads}\n\n");
    if !startup.is_empty() {
        out.push_str(&startup_section(&startup));
    }
    if !transfers.is_empty() {
        out.push_str(&transfers_section(&transfers));
    }
    if !cloud.is_empty() || !checks.is_empty() {
        out.push_str(&cloud_section(&cloud, checks));
    }
    if !memory.is_empty() {
        out.push_str(&memory_section(&memory));
    }
    out
}

fn startup_section(startup: &[Measurement]) -> String {
    format!(
        "### Start-up: trivial task (int in, int out)\n\nWall seconds, median (min–max).\n\n{}\nWhere ours spends it (medians, ms; worker ready and inputs overlap):\n\n{}\n",
        report::startup_table(startup),
        report::phases_table(startup)
    )
}

fn transfers_section(transfers: &[Measurement]) -> String {
    format!(
        "### Transfers\n\nThroughput at the median wall time of the whole run (process start to exit); CPU seconds per GiB moved: the process tree's user + system CPU at its median, less the tool's trivial task's (ours and flytekit), over the GiB moved.\n\n{}\nEvery measurement (peak RSS for ours: supervisor / worker):\n\n{}\n",
        report::throughput_table(transfers),
        report::transfers_table(transfers)
    )
}

fn cloud_section(cloud: &[Measurement], checks: &[ProxyCheck]) -> String {
    let shape = Shape::CLOUD;
    let mut out = format!(
        "### Cloud-like link: Garage through the shaping proxy ({} MiB/s per connection each way, {} ms before each response's first byte)\n\n",
        shape.bytes_per_second >> 20,
        shape.first_byte_delay.as_millis()
    );
    if !checks.is_empty() {
        out.push_str(&format!(
            "The proxy's own check: rclone reading the FlyteFile case's file through it, on one stream and on many; the proxy's CPU is its threads' user + system time during the run.\n\n{}\n",
            report::proxy_table(checks)
        ));
    }
    if !cloud.is_empty() {
        out.push_str(&format!(
            "Throughput at the median wall time of the whole run, and CPU seconds per GiB as above (the proxy's own CPU not included):\n\n{}\nEvery measurement:\n\n{}\n",
            report::throughput_table(cloud),
            report::transfers_table(cloud)
        ));
    }
    out
}

fn memory_section(memory: &[Measurement]) -> String {
    format!(
        "### Memory: ours alone, one run each (target: supervisor ≤ 64 MiB; the worker's peak does not grow with the data)\n\n{}\n",
        report::transfers_table(memory)
    )
}

/// Replaces the generated parts of docs/benchmarks.md (between `<!-- bench:NAME -->` and
/// `<!-- /bench:NAME -->`) with this run's, and writes the chart beside it.
fn update_docs(
    root: &Path,
    results: &[Measurement],
    checks: &[ProxyCheck],
    machine: &str,
    loads: &str,
    sections: Sections,
    chart: &str,
) -> Result<()> {
    let path = root.join("docs/benchmarks.md");
    let mut doc = std::fs::read_to_string(&path).context("reading docs/benchmarks.md")?;
    let mut parts = vec![("machine", format!("{machine}\n{loads}\n"))];
    if sections.startup {
        parts.push((
            "startup",
            startup_section(&pick(results, |m| m.way.is_none())),
        ));
    }
    if sections.transfers {
        let transfers = pick(results, |m| {
            m.way.is_some() && !is_memory(m) && !is_cloud(m)
        });
        parts.push((
            "transfers",
            format!(
                "![Throughput per tool and case](benchmarks-throughput.svg)\n\n{}",
                transfers_section(&transfers)
            ),
        ));
    }
    if sections.transfers || sections.cloud {
        std::fs::write(root.join("docs/benchmarks-throughput.svg"), chart)?;
    }
    if sections.cloud {
        let cloud = pick(results, |m| m.way.is_some() && is_cloud(m));
        parts.push(("cloud", cloud_section(&cloud, checks)));
    }
    if sections.memory {
        parts.push(("memory", memory_section(&pick(results, is_memory))));
    }
    for (name, text) in parts {
        doc = replace_between(&doc, name, &text)
            .with_context(|| format!("docs/benchmarks.md has no <!-- bench:{name} --> section"))?;
    }
    std::fs::write(&path, doc)?;
    println!("updated {}", path.display());
    Ok(())
}

/// `doc` with the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` replaced.
fn replace_between(doc: &str, name: &str, text: &str) -> Option<String> {
    let (open, close) = (
        format!("<!-- bench:{name} -->\n"),
        format!("<!-- /bench:{name} -->"),
    );
    let start = doc.find(&open)? + open.len();
    let end = start + doc[start..].find(&close)?;
    Some(format!("{}{text}{}", &doc[..start], &doc[end..]))
}

/// The commit measured, as `git describe` names it (`-dirty` with changes).
fn commit_measured(root: &Path) -> String {
    Command::new("git")
        .args(["-C"])
        .arg(root)
        .args(["describe", "--always", "--dirty"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// CPU, cores, memory, kernel and the versions of everything measured; `commit` is the
/// commit built, taken before the runs.
fn machine_line(root: &Path, python: &Path, commit: &str) -> Result<String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0.0, |kib| kib as f64 / (1 << 20) as f64);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let first_line = |command: &mut Command| -> String {
        command
            .output()
            .ok()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr);
                text.lines().next().unwrap_or_default().trim().to_owned()
            })
            .unwrap_or_default()
    };
    let versions = first_line(Command::new(python).args([
        "-c",
        "import sys, flytekit, pandas, pyarrow; print('Python', sys.version.split()[0], '· flytekit', flytekit.__version__, '· pandas', pandas.__version__, '· pyarrow', pyarrow.__version__)",
    ]));
    let moto = first_line(
        Command::new(root.join("target/emulators/venv/bin/python"))
            .args(["-c", "import moto; print('moto', moto.__version__)"]),
    );
    let rclone = first_line(Command::new("rclone").arg("version"));
    let rustc = first_line(Command::new("rustc").arg("--version"));
    let tools: Vec<String> = [versions, rclone, GarageServer::version(), moto]
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect();
    Ok(format!(
        "Machine: {cpu}, {cores} cores, {memory_gib:.1} GiB, Linux {kernel}. Ours at {commit} ({rustc}, release) · {} · fake-gcs-server and Azurite as `cargo xtask test` runs them.",
        tools.join(" · ")
    ))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// "2 GiB", "512 MiB".
fn size_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// 545 seconds as "9 min 5 s".
fn minutes(seconds: u64) -> String {
    format!("{} min {} s", seconds / 60, seconds % 60)
}

/// 10000 as "10,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_read_as_people_write_them() {
        assert_eq!(size_label(2 << 30), "2 GiB");
        assert_eq!(size_label(256 << 20), "256 MiB");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(100), "100");
        assert_eq!(minutes(545), "9 min 5 s");
    }

    #[test]
    fn each_tool_runs_first_in_turn() {
        let mut order = Vec::new();
        let measured = interleaved(
            &[Tool::Ours, Tool::Flytekit, Tool::Rclone],
            3,
            |tool, round| {
                order.push(tool.label());
                if tool == Tool::Rclone && round == 1 {
                    anyhow::bail!("a flaky run");
                }
                Ok(Sample {
                    seconds: 1.0,
                    peak_rss_kib: 1,
                    cpu_seconds: 1.0,
                    supervisor_kib: None,
                    worker_kib: None,
                    phases: None,
                })
            },
        );
        assert_eq!(
            order,
            [
                "ours", "flytekit", "rclone", "flytekit", "rclone", "ours", "rclone", "ours",
                "flytekit"
            ]
        );
        let counts: Vec<(usize, usize)> = measured
            .iter()
            .map(|(_, samples, failures)| (samples.len(), failures.len()))
            .collect();
        assert_eq!(
            counts,
            [(3, 0), (3, 0), (2, 1)],
            "the failed run is counted, the others kept"
        );
    }

    fn transfer(store: &'static str, tool: Tool) -> Measurement {
        Measurement {
            case: "2 GiB FlyteFile".to_owned(),
            way: Some(Way::Read),
            store,
            tool,
            bytes: Some(2 << 30),
            samples: vec![Sample {
                seconds: 4.0,
                peak_rss_kib: 1024,
                cpu_seconds: 3.0,
                supervisor_kib: None,
                worker_kib: None,
                phases: None,
            }],
            failures: Vec::new(),
            cpu_floor: Some(1.0),
        }
    }

    #[test]
    fn the_cloud_like_link_has_its_own_section_after_the_direct_transfers() {
        let results = [
            transfer("S3 (Garage)", Tool::Ours),
            transfer(stores::CLOUD_LABEL, Tool::Rclone),
        ];
        let checks = [ProxyCheck {
            streams: 16,
            bytes: 2 << 30,
            seconds: 4.0,
            connections: 17,
            proxy_cpu_seconds: 1.0,
            cap_bytes_per_second: 64 << 20,
        }];
        let report = render(&results, &checks, "Machine: m", "Load: l");
        let cloud = report
            .find("### Cloud-like link")
            .expect("a cloud-like link section");
        let direct = report.find("### Transfers").expect("a transfers section");
        assert!(direct < cloud, "{report}");
        assert!(
            !report[..cloud].contains(stores::CLOUD_LABEL),
            "the cloud-like runs are not among the direct ones:\n{report}"
        );
        assert!(
            report[cloud..].contains("--multi-thread-streams=16"),
            "{report}"
        );
        assert!(
            report[cloud..].contains("64 MiB/s per connection each way, 20 ms"),
            "{report}"
        );
    }

    #[test]
    fn a_run_without_the_cloud_like_link_has_no_section_for_it() {
        let report = render(&[transfer("S3 (Garage)", Tool::Ours)], &[], "m", "l");
        assert!(!report.contains("Cloud-like"), "{report}");
    }

    #[test]
    fn a_generated_section_of_the_docs_is_replaced_and_the_rest_kept() {
        let doc = "intro\n<!-- bench:startup -->\nold table\n<!-- /bench:startup -->\nafter\n";
        assert_eq!(
            replace_between(doc, "startup", "new table\n").as_deref(),
            Some("intro\n<!-- bench:startup -->\nnew table\n<!-- /bench:startup -->\nafter\n")
        );
        assert_eq!(replace_between(doc, "memory", "x"), None);
    }
}
