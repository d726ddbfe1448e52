//! The object stores (S3, GCS, Azure): one engine over three backends.
//!
//! - [`backend`]: the contract a backend keeps, [`ObjectBackend`](backend::ObjectBackend):
//!   a few primitive requests, each one attempt, reporting [`Fault`](backend::Fault)s.
//! - [`transfers`]: the transfer engine, [`Transfers`](transfers::Transfers): retries,
//!   the memory budget, streamed and ranged downloads, part uploads.
//! - [`store`]: [`CloudStore`](store::CloudStore), the [`Store`](crate::Store) built on
//!   both, which alone decides what a failure means to the caller.
//! - `s3`, `gcs`, `azure`: the backends.

pub(crate) mod azure;
pub(crate) mod backend;
pub(crate) mod gcs;
pub(crate) mod s3;
pub(crate) mod store;
pub(crate) mod transfers;
