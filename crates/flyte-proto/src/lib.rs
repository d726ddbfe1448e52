//! flyteidl core messages.
#![allow(missing_docs)]
pub mod generated {
    include!("generated/flyteidl.core.rs");
}
