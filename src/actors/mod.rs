//! The engine: actors exchanging batches of events over bounded mailboxes,
//! under a supervisor. WASM runs on worker threads ([`crate::workers`]), and
//! blocking connectors on threads of their own; actors only route batches.
//!
//! ```text
//! source thread -> SourceActor -> FanOut -> Batcher -> PoolActor => worker threads
//!                                              ^                        |
//!                                              |                  Collector (reorder) -> FanOut -> Batcher/SinkActor -> sink thread
//!                                              +-- (other processors' fan-outs)              \-> DeadLetterActor -> writer thread
//! ```
//!
//! Backpressure: every hop waits for the next to accept (`send().await`
//! inside `ctx.wait`, or an async permit in front of a bounded thread
//! channel), so a slow stage slows everything before it and memory stays bounded.
//!
//! # Layout
//! [`messages`] (what flows), [`supervisor`] (start, watch, drain), `prepare`
//! (modules loaded, connectors opened, sources resumed), `load`
//! (modules into each processor's [`crate::admin::ProcessorControl`]),
//! [`source`], [`fanout`], [`batcher`], [`pool`] (dispatch to workers; a
//! `type: grpc` processor has `crate::grpc::processor::GrpcStage` in its place),
//! [`collector`] (reorder, emit; its metrics in `processor_metrics`, its
//! readiness in `processor_health`), [`sink`], [`dead_letters`], [`versions`]
//! (weighted sticky routing behind `ArcSwap`, published by the control), [`bridge`] (async <-> thread
//! channels), [`stats`] (counts and the run report), [`error`].

pub mod batcher;
pub mod bridge;
pub mod collector;
pub mod dead_letters;
pub mod error;
pub mod fanout;
mod load;
pub mod messages;
pub mod pool;
mod prepare;
pub(crate) mod processor_health;
pub(crate) mod processor_metrics;
pub mod sink;
pub mod source;
pub mod stats;
pub mod supervisor;
pub mod versions;

pub use error::EngineError;
pub use stats::{ProcessorReport, RunReport, SinkReport, SourceReport};
pub use supervisor::{run_pipeline, run_pipeline_with, EngineOptions};
pub use versions::{RouteKey, SharedVersions, Version, VersionSet};
