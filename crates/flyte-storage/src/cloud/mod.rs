//! The object stores (S3, GCS, Azure): one engine over three backends.
//!
//! - [`backend`]: the contract a backend keeps, [`ObjectBackend`](backend::ObjectBackend):
//!   a few primitive requests, each one attempt, reporting [`Fault`](backend::Fault)s.
//! - [`transfers`]: the transfer engine, [`Transfers`](transfers::Transfers): retries,
//!   the memory budget, streamed and ranged downloads, part uploads.
//! - [`store`]: [`CloudStore`](store::CloudStore), the [`Store`](crate::Store) built on
//!   both, which alone decides what a failure means to the caller.
//! - `memory`: objects in memory, a backend like the others (so [`MemoryStore`]
//!   runs through the same engine: ranged downloads, multipart uploads, retries).
//! - `s3`, `gcs`, `azure`: the backends, each built only with the cargo feature of the
//!   same name.
//!
//! [`MemoryStore`]: crate::MemoryStore

// A build with no cloud backend keeps the engine for the memory store alone, which
// leaves the HTTP-facing parts (status codes, connect timeouts, per-store options)
// unused.
#![cfg_attr(
    not(any(feature = "s3", feature = "gcs", feature = "azure")),
    allow(dead_code, unused_imports)
)]

#[cfg(feature = "azure")]
pub(crate) mod azure;
pub(crate) mod backend;
#[cfg(feature = "gcs")]
pub(crate) mod gcs;
pub(crate) mod memory;
#[cfg(feature = "s3")]
pub(crate) mod s3;
#[cfg(feature = "s3")]
mod s3_watch;
pub(crate) mod store;
pub(crate) mod transfers;
