//! Loading a processor's module versions at start, through the shared
//! `Runtime` (failing with the processor and file named; a module refused for
//! its signature is audited too), into the
//! [`ProcessorControl`] the engine routes by; and what the hot reloader needs
//! to load each version again with the same spec.

use std::sync::Arc;

use super::error::EngineError;
use crate::admin::{NewVersion, Policy, ProcessorControl};
use crate::config::{ProcessorConfig, WasmConfig};
use crate::reload::ReloadTarget;
use crate::runtime::{ProcessorSpec, Runtime, RuntimeError};
use crate::signing::{self, TrustedKeys};

/// Loads every version of `processor`, and says how to load each again on a reload.
pub(super) fn load_versions(
    processor: &ProcessorConfig,
    wasm: &WasmConfig,
    trusted_keys: &TrustedKeys,
    runtime: &Runtime,
) -> Result<(Arc<ProcessorControl>, Vec<ReloadTarget>), EngineError> {
    let mut versions = Vec::new();
    let mut specs = Vec::new();
    for v in &wasm.versions {
        let spec = ProcessorSpec {
            name: processor.id.clone(),
            version: v.name.clone(),
            config: processor.config.clone(),
            limits: wasm.limits.clone(),
            permissions: wasm.permissions.clone(),
            tenant: wasm.tenant.clone(),
            quotas: wasm.quotas.clone(),
            trusted_keys: wasm.require_signature.then(|| trusted_keys.clone()),
        };
        let module = runtime.load_file(&v.module, spec.clone()).map_err(|error| {
            if let RuntimeError::Signature { version, reason } = &error {
                signing::audit_refused(&processor.id, version, &v.module, reason);
            }
            EngineError::Module { processor: processor.id.clone(), file: v.module.clone(), error }
        })?;
        if let Some(key_id) = module.signed_by() {
            signing::audit_accepted(&processor.id, module.version(), &v.module, key_id);
        }
        tracing::info!(processor = %processor.id, version = module.version(), file = %v.module.display(), "module loaded");
        versions.push(NewVersion { module, file: v.module.clone(), weight: v.weight });
        specs.push((v.module.clone(), spec));
    }
    let policy = Policy {
        route_by: wasm.route_by.clone(),
        pool_size: wasm.pool_size,
        rollback: wasm.rollback.clone(),
        breaker: wasm.circuit_breaker.clone(),
    };
    let control = ProcessorControl::new(&processor.id, policy, versions)
        .ok_or_else(|| EngineError::NoVersions { processor: processor.id.clone() })?;
    let targets = (specs.into_iter().enumerate())
        .map(|(index, (file, spec))| ReloadTarget { control: control.clone(), index, file, spec })
        .collect();
    Ok((control, targets))
}
