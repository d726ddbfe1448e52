//! Moves one file between a local path and an S3-compatible store through [`Storage`],
//! for measuring the transfer engine under `/usr/bin/time -v`, `strace -f -c` or
//! `perf` against a real server (e.g. Garage) without Python in the way.
//!
//! Usage: `s3_transfer get URI FILE` or `s3_transfer put FILE URI`. The store is
//! named by the variables the entrypoint reads: `FLYTE_AWS_ENDPOINT`,
//! `FLYTE_AWS_ACCESS_KEY_ID`, `FLYTE_AWS_SECRET_ACCESS_KEY` and `AWS_REGION`; optional
//! `CHUNK_MIB` and `CHUNK_CONCURRENCY` override the `StorageConfig` defaults.

use std::time::Instant;

use flyte_storage::{S3Config, SecretString, Storage, StorageConfig};

#[tokio::main]
#[allow(
    clippy::disallowed_methods,
    reason = "a measuring program, configured by its environment"
)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: s3_transfer get URI FILE | s3_transfer put FILE URI";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [direction, from, to] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let mut config = StorageConfig {
        s3: S3Config {
            endpoint: Some(var("FLYTE_AWS_ENDPOINT")?),
            region: Some(var("AWS_REGION")?),
            access_key_id: Some(var("FLYTE_AWS_ACCESS_KEY_ID")?),
            secret_access_key: Some(SecretString::from(var("FLYTE_AWS_SECRET_ACCESS_KEY")?)),
            force_path_style: Some(true),
            disable_instance_metadata: true,
            ..S3Config::default()
        },
        progress_interval: None,
        ..StorageConfig::default()
    };
    if let Ok(mib) = var("CHUNK_MIB") {
        config.chunk_size = mib.parse::<usize>()? << 20;
    }
    if let Ok(concurrency) = var("CHUNK_CONCURRENCY") {
        config.chunk_concurrency = concurrency.parse()?;
    }
    let storage = Storage::new(config);
    let started = Instant::now();
    let bytes = match direction.as_str() {
        "get" => storage.get_file(from, to.as_ref()).await?,
        "put" => storage.put_file(from.as_ref(), to).await?,
        _ => return Err(USAGE.into()),
    };
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{direction} {bytes} bytes in {elapsed:.2} s ({:.0} MiB/s)",
        bytes as f64 / (1024.0 * 1024.0) / elapsed
    );
    Ok(())
}
