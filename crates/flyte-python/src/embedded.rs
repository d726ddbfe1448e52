//! The Python half of the executor, shipped inside the binary so nothing is installed
//! beside it: written into the worker's scratch directory when it starts.

/// The worker script: runs one task through flytekit's own entrypoint functions.
pub(crate) const WORKER_SCRIPT: &str = include_str!("../python/worker.py");
/// The worker's fsspec filesystems for remote protocols, served by the storage bridge.
pub(crate) const BRIDGE_MODULE: &str = include_str!("../python/fsspec_bridge.py");
