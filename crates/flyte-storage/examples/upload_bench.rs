//! Uploads one local file to moto's S3 server through [`Storage`] and prints what it
//! moved, for `cargo xtask bench`, which runs it under `/usr/bin/time -v` to read the
//! process's peak RSS. Needs the `PYFLYTE_EXECUTE_TEST_S3_*` variables xtask sets.
//!
//! Usage: `upload_bench FILE [CHUNK_MIB [CHUNK_CONCURRENCY]]` (defaults: the
//! `StorageConfig` defaults).

use std::time::Instant;

use flyte_storage::Storage;
use flyte_test_support::emulators::Emulator;

#[tokio::main]
#[allow(
    clippy::disallowed_methods,
    reason = "a bench program, run by cargo xtask bench"
)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let path = args
        .next()
        .ok_or("usage: upload_bench FILE [CHUNK_MIB [CHUNK_CONCURRENCY]]")?;
    let number = |arg: Option<std::ffi::OsString>| -> Result<Option<usize>, String> {
        arg.map(|a| {
            a.to_string_lossy()
                .parse()
                .map_err(|e| format!("{a:?}: {e}"))
        })
        .transpose()
    };
    let emulator = Emulator::S3;
    emulator.prepare().await;
    let mut config = emulator.config();
    if let Some(mib) = number(args.next())? {
        config.chunk_size = mib << 20;
    }
    if let Some(concurrency) = number(args.next())? {
        config.chunk_concurrency = concurrency;
    }
    let (chunk_size, chunk_concurrency) = (config.chunk_size, config.chunk_concurrency);
    let storage = Storage::new(config);
    let prefix = format!("{}/bench", emulator.unique_prefix());
    let uri = format!("{prefix}/upload.bin");

    let started = Instant::now();
    let bytes = storage.put_file(path.as_ref(), &uri).await?;
    let elapsed = started.elapsed();

    let listed = storage.list(&prefix).await?;
    let stored: u64 = listed.iter().map(|o| o.size).sum();
    if stored != bytes {
        return Err(format!("uploaded {bytes} bytes but the store holds {stored}").into());
    }
    storage.delete(&uri).await?;
    println!(
        "uploaded {bytes} bytes to {uri} in {:.1} s ({:.0} MiB/s), chunk {} MiB x {} in flight",
        elapsed.as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64(),
        chunk_size >> 20,
        chunk_concurrency,
    );
    Ok(())
}
