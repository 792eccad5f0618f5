//! [`ProcessorControl`] without an engine: batch results are made up, the
//! routing it publishes is read back.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::control::{ControlError, NewVersion, Policy, ProcessorControl};
use crate::actors::stats::{BatchStats, JobResult, Outcome};
use crate::config::{BreakerSpec, RollbackSpec};
use crate::runtime::test_guests::versioned;
use crate::runtime::ReadyInstances;

fn control(weights: &[u32], rollback: Option<RollbackSpec>, breaker: Option<BreakerSpec>) -> Arc<ProcessorControl> {
    let versions = (weights.iter().enumerate())
        .map(|(i, &weight)| NewVersion { module: versioned(&format!("v{}", i + 1)), file: "m.wasm".into(), weight })
        .collect();
    let policy = Policy { route_by: "id".into(), pool_size: 1, rollback, breaker };
    ProcessorControl::new("p", policy, versions).unwrap()
}

/// A batch that ran `events` events on version `version`, `failed` of them
/// dead-lettered, with `restarts` instance restarts.
fn batch(c: &ProcessorControl, version: usize, events: u64, failed: u64, restarts: u64) -> JobResult {
    let versions = c.shared().load_full();
    let mut per_version: Vec<(Arc<str>, BatchStats)> =
        versions.versions().iter().map(|v| (v.name.clone(), BatchStats::default())).collect();
    per_version[version].1 = BatchStats { received: events, dead_lettered: failed, restarts, ..BatchStats::default() };
    let outcomes = (0..events).map(|i| Outcome { version: version as u16, failed: i < failed }).collect();
    let permit = Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().unwrap();
    JobResult {
        seq: 0,
        outputs: Vec::new(),
        dead_letters: Vec::new(),
        total: BatchStats::default(),
        per_version,
        versions,
        outcomes,
        permit: Some(permit),
    }
}

fn routed_weights(c: &ProcessorControl) -> Vec<(u32, bool)> {
    c.shared().load().versions().iter().map(|v| (v.weight, v.circuit_open)).collect()
}

#[test]
fn canary_is_rolled_back_once_its_window_is_full_and_over_the_rate() {
    let c = control(&[90, 10], Some(RollbackSpec { max_error_rate: 0.05, min_events: 100 }), None);
    c.observe(&batch(&c, 1, 99, 20, 0));
    assert_eq!(routed_weights(&c), [(90, false), (10, false)], "no decision before min_events");
    c.observe(&batch(&c, 1, 1, 0, 0));
    assert_eq!(routed_weights(&c), [(90, false), (0, false)]);
    assert_eq!(c.status().versions[1].state, "rolled_back");
    // The operator brings it back: judged on fresh events only.
    c.set_traffic(&BTreeMap::from([("v2".to_string(), 10)])).unwrap();
    assert_eq!(routed_weights(&c), [(90, false), (10, false)]);
    assert_eq!(c.status().versions[1].window_events, 0);
}

#[test]
fn canary_is_not_rolled_back_when_no_other_version_takes_traffic() {
    let c = control(&[0, 100], Some(RollbackSpec { max_error_rate: 0.05, min_events: 10 }), None);
    c.observe(&batch(&c, 1, 10, 10, 0));
    assert_eq!(routed_weights(&c), [(0, false), (100, false)]);
    assert_eq!(c.status().versions[1].state, "active");
}

#[test]
fn an_open_breaker_moves_traffic_or_refuses_events_when_alone() {
    let spec = BreakerSpec { max_restarts: 3, window: Duration::from_secs(60), cooldown: Duration::from_secs(600) };
    let c = control(&[50, 50], None, Some(spec.clone()));
    c.observe(&batch(&c, 1, 5, 5, 2));
    assert_eq!(routed_weights(&c), [(50, false), (50, false)]);
    c.observe(&batch(&c, 1, 5, 5, 1));
    assert_eq!(routed_weights(&c), [(50, false), (0, true)], "traffic moves to v1");
    assert_eq!(c.status().versions[1].circuit, "open");

    let alone = control(&[100], None, Some(spec));
    alone.observe(&batch(&alone, 0, 5, 5, 3));
    assert_eq!(routed_weights(&alone), [(100, true)], "kept routable so its events are dead-lettered");
}

#[test]
fn traffic_and_rollback_refuse_what_cannot_be_done() {
    let c = control(&[90, 10], None, None);
    let weights = |pairs: &[(&str, u32)]| pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect::<BTreeMap<_, _>>();
    assert!(matches!(c.set_traffic(&weights(&[("v3", 1)])), Err(ControlError::UnknownVersion { .. })));
    assert_eq!(c.set_traffic(&weights(&[])), Err(ControlError::NoWeights));
    assert_eq!(c.set_traffic(&weights(&[("v1", 0), ("v2", 0)])), Err(ControlError::AllZero("p".into())));
    assert_eq!(routed_weights(&c), [(90, false), (10, false)], "a refusal changes nothing");
    assert_eq!(c.rollback(None).unwrap(), "v1");
    assert_eq!(routed_weights(&c), [(100, false), (0, false)]);
    assert_eq!(c.rollback(Some("v2")).unwrap(), "v2");
    assert_eq!(routed_weights(&c), [(0, false), (100, false)]);
    assert_eq!(control(&[100], None, None).rollback(None), Err(ControlError::SingleVersion("p".into())));
}

#[test]
fn a_swapped_module_is_routed_at_once_and_old_batches_skip_the_guards() {
    let c = control(&[100], Some(RollbackSpec { max_error_rate: 0.05, min_events: 10 }), None);
    let old_batch = batch(&c, 0, 10, 10, 0);
    let old = c.swap_module(0, versioned("v1-fixed"), Default::default()).unwrap();
    assert_eq!(old, "v1");
    assert_eq!(&*c.shared().load().versions()[0].name, "v1-fixed");
    // A batch dispatched before the swap counts in the totals, not in the new module's window.
    c.observe(&old_batch);
    let status = c.status();
    assert_eq!((status.versions[0].events, status.versions[0].window_events), (10, 0));
    assert_eq!(status.reloads.ok, 1);
}

#[test]
fn a_swapped_module_is_published_with_its_ready_instances_and_keeps_them_across_traffic_changes() {
    let c = control(&[50, 50], None, None);
    assert!(c.shared().load().versions().iter().all(|v| v.ready.is_empty()), "versions loaded at start have none");
    let fixed = versioned("v2-fixed");
    c.swap_module(1, fixed.clone(), ReadyInstances::prepare(&fixed, c.pool_size()).unwrap()).unwrap();
    assert_eq!(c.shared().load().versions()[1].ready.len(), 1);
    c.set_traffic(&BTreeMap::from([("v1".to_string(), 10)])).unwrap();
    let set = c.shared().load_full();
    assert!(Arc::ptr_eq(&set.versions()[1].module, &fixed));
    assert!(set.versions()[1].ready.take(&fixed).is_some(), "still there for the first worker");
}
