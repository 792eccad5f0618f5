//! A processor's module versions and the weighted, sticky split of events
//! between them. The set lives behind an `ArcSwap` so a reload or a traffic
//! change swaps it atomically between batches; a batch keeps the snapshot it
//! was dispatched with.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::event::Event;
use crate::runtime::{LoadedModule, ReadyInstances};

/// One loaded version of a processor's module and its share of traffic.
#[derive(Debug, Clone)]
pub struct Version {
    /// Configured name, else the module's short content hash (what outputs carry).
    pub name: Arc<str>,
    pub module: Arc<LoadedModule>,
    /// Instances of `module` made and `init`-ed before it was swapped in (hot
    /// reload), for the workers' first batches of it; empty otherwise.
    pub ready: ReadyInstances,
    /// Share used for routing now: 0 while rolled back or while its circuit is open.
    pub weight: u32,
    /// The circuit breaker is open: events routed here are dead-lettered
    /// (kind `circuit_open`) without running. Only happens when no other
    /// version can take them; otherwise the version gets weight 0.
    pub circuit_open: bool,
}

/// Which part of an event decides its version.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteKey {
    Id,
    /// Dotted path into `data`, e.g. `account.id` (the config's `data.` prefix removed).
    Data(Vec<String>),
}

impl RouteKey {
    /// Parses the config's `route_by`: `id`, or a path such as `data.account.id`.
    pub fn parse(route_by: &str) -> RouteKey {
        if route_by == "id" {
            return RouteKey::Id;
        }
        let path = route_by.strip_prefix("data.").unwrap_or(route_by);
        RouteKey::Data(path.split('.').map(str::to_string).collect())
    }
}

/// The versions of one processor at one moment.
#[derive(Debug)]
pub struct VersionSet {
    versions: Vec<Version>,
    route_by: RouteKey,
    /// Sum of weights; 0 means "all traffic to the first version whose circuit is closed".
    total_weight: u64,
}

/// Shared, atomically replaceable version set of one processor.
pub type SharedVersions = Arc<ArcSwap<VersionSet>>;

impl VersionSet {
    /// `versions` must not be empty (the config guarantees at least one).
    pub fn new(versions: Vec<Version>, route_by: RouteKey) -> Option<VersionSet> {
        if versions.is_empty() {
            return None;
        }
        let total_weight = versions.iter().map(|v| u64::from(v.weight)).sum();
        Some(VersionSet { versions, route_by, total_weight })
    }

    /// The set of a stage that runs no module (a `type: grpc` processor):
    /// its batches report one pseudo-version by name, with no module behind it.
    pub fn no_module() -> VersionSet {
        VersionSet { versions: Vec::new(), route_by: RouteKey::Id, total_weight: 0 }
    }

    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    pub fn route_by(&self) -> &RouteKey {
        &self.route_by
    }

    /// Index of the version `event` goes to. The same key always lands on the
    /// same version for the same weights, across runs and machines.
    pub fn route(&self, event: &Event) -> usize {
        if self.versions.len() == 1 {
            return 0;
        }
        if self.total_weight == 0 {
            return self.versions.iter().position(|v| !v.circuit_open).unwrap_or(0);
        }
        let point = stable_hash(&route_key(&self.route_by, event)) % self.total_weight;
        let mut upper = 0u64;
        for (i, v) in self.versions.iter().enumerate() {
            upper += u64::from(v.weight);
            if point < upper {
                return i;
            }
        }
        self.versions.len() - 1
    }
}

/// The bytes an event is routed by. A missing data field routes as the empty key.
pub fn route_key<'a>(key: &RouteKey, event: &'a Event) -> std::borrow::Cow<'a, [u8]> {
    use std::borrow::Cow;
    match key {
        RouteKey::Id => Cow::Borrowed(event.id().as_bytes()),
        RouteKey::Data(path) => match event.data_at(path) {
            None => Cow::Borrowed(&[]),
            // A string routes by its text; anything else by its compact JSON.
            Some(raw) => match plain_string(raw.get()) {
                Some(text) => Cow::Borrowed(text.as_bytes()),
                None => match serde_json::from_str::<serde_json::Value>(raw.get()) {
                    Ok(serde_json::Value::String(s)) => Cow::Owned(s.into_bytes()),
                    Ok(other) => Cow::Owned(other.to_string().into_bytes()),
                    Err(_) => Cow::Borrowed(&[]),
                },
            },
        },
    }
}

/// The text of a JSON string without escapes, read in place.
fn plain_string(json: &str) -> Option<&str> {
    json.strip_prefix('"')?.strip_suffix('"').filter(|text| !text.contains('\\'))
}

/// FNV-1a over the bytes, then a SplitMix64 finalizer so that the low bits used
/// by the modulo are well mixed. Fixed algorithm: stable across runs, unlike `std::hash`.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_EVT_1: u64 = 0xb08a34cff25e60bf;

    #[test]
    fn hash_is_fixed() {
        // Pinned values: a change here would move keys between versions on upgrade.
        assert_eq!(stable_hash(b""), stable_hash(b""));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        assert_eq!(stable_hash(b"evt-1"), PINNED_EVT_1);
    }

    #[test]
    fn route_key_parses() {
        assert_eq!(RouteKey::parse("id"), RouteKey::Id);
        assert_eq!(RouteKey::parse("data.account.id"), RouteKey::Data(vec!["account".into(), "id".into()]));
    }

    #[test]
    fn data_path_key_reads_nested_values() {
        let e = Event::new("1", "t", 0, serde_json::json!({"a": {"b": "k1", "n": 7}}));
        let k = RouteKey::Data(vec!["a".into(), "b".into()]);
        assert_eq!(&*route_key(&k, &e), b"k1");
        let n = RouteKey::Data(vec!["a".into(), "n".into()]);
        assert_eq!(&*route_key(&n, &e), b"7");
        let missing = RouteKey::Data(vec!["zz".into()]);
        assert!(route_key(&missing, &e).is_empty());
    }

    fn module() -> Arc<LoadedModule> {
        use crate::runtime::{ProcessorSpec, Runtime, RuntimeSettings};
        let runtime =
            Runtime::new(RuntimeSettings { cache_dir: None, epoch_tick: std::time::Duration::from_millis(1) })
                .expect("runtime");
        let wasm = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                 (func (export "allocate") (param i32) (result i32) (i32.const 1024))
                 (func (export "free") (param i32 i32))
                 (func (export "process_event") (param i32 i32) (result i64) (i64.const 0)))"#,
        )
        .expect("wat");
        runtime.load_bytes(&wasm, ProcessorSpec::named("p")).expect("load")
    }

    fn set(module: &Arc<LoadedModule>, weights: &[(u32, bool)]) -> VersionSet {
        let versions = weights
            .iter()
            .enumerate()
            .map(|(i, &(weight, circuit_open))| Version {
                name: format!("v{}", i + 1).into(),
                module: module.clone(),
                ready: ReadyInstances::default(),
                weight,
                circuit_open,
            })
            .collect();
        VersionSet::new(versions, RouteKey::Id).expect("versions")
    }

    fn event(key: usize) -> Event {
        Event::new(format!("key-{key}"), "t", 0, serde_json::json!({}))
    }

    /// The issue's acceptance check on the routing code itself: 100,000 keys
    /// split 90/10 land within two points, and a key routed again (also by a
    /// rebuilt set, as after a reload) goes to the same version.
    #[test]
    fn ninety_ten_split_lands_within_two_points_and_keys_stick() {
        let module = module();
        let first = set(&module, &[(90, false), (10, false)]);
        let rebuilt = set(&module, &[(90, false), (10, false)]);
        let n = 100_000;
        let mut to_v1 = 0;
        for key in 0..n {
            let e = event(key);
            let v = first.route(&e);
            assert_eq!(v, first.route(&e), "key-{key} moved between two routings");
            assert_eq!(v, rebuilt.route(&e), "key-{key} moved after a rebuild");
            to_v1 += usize::from(v == 0);
        }
        let share = to_v1 as f64 / n as f64;
        assert!((0.88..=0.92).contains(&share), "v1 got {share} of the keys");
    }

    /// Moving weight from v1 to v2 only moves keys from v1 to v2, never back.
    #[test]
    fn raising_a_weight_only_moves_keys_towards_it() {
        let module = module();
        let (before, after) = (set(&module, &[(90, false), (10, false)]), set(&module, &[(50, false), (50, false)]));
        for key in 0..10_000 {
            let e = event(key);
            if before.route(&e) == 1 {
                assert_eq!(after.route(&e), 1, "key-{key} left v2 when v2 grew");
            }
        }
    }

    #[test]
    fn zero_weight_and_open_circuits_get_no_traffic() {
        let module = module();
        let rolled_back = set(&module, &[(100, false), (0, false)]);
        assert!((0..1000).all(|k| rolled_back.route(&event(k)) == 0));
        // Nothing routable by weight: the first version whose circuit is closed takes it all.
        let all_zero = set(&module, &[(0, true), (0, false)]);
        assert!((0..1000).all(|k| all_zero.route(&event(k)) == 1));
    }
}
