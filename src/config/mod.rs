//! `flowctl.yaml`: parse, validate, resolve.

pub mod model;

pub use model::*;
