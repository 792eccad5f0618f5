//! Live operations: what an operator changes in a running pipeline, and the
//! guards that change it automatically.
//!
//! - [`control`]: the registry of every processor's versions, weights and
//!   guards; the engine registers processors and feeds it batch results, and
//!   publishes routing changes through the processor's `ArcSwap`.
//! - [`guard`]: the canary's error window and the restart circuit breaker;
//!   `observe` feeds them each finished batch and acts on their verdicts.
//! - [`status`], [`report`]: what `GET /admin/status` and `flowctl status` show.
//! - [`api`]: the `/admin` HTTP routes (merged into the `/metrics` listener).
//! - [`access`]: who may call them (Host, origin, token, content type).
//! - [`token`]: where the admin token comes from (file, environment).
//! - [`client`]: the CLI side of those routes.

pub mod access;
pub mod api;
pub mod client;
pub mod control;
pub mod guard;
mod observe;
pub mod report;
mod status;
pub mod token;

#[cfg(test)]
mod control_tests;

pub use access::{Access, AccessError, AccessRefusal};
pub use api::{router, RollbackAnswer};
pub use client::{AdminClient, ClientError};
pub use control::{Control, ControlError, NewVersion, Policy, ProcessorControl};
pub use report::{ProcessorStatus, StatusReport, VersionStatus};
