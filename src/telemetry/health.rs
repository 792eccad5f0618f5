//! Liveness and readiness of the pipeline's components, shared between the
//! engine (which reports) and the HTTP endpoint (which answers `/readyz`).

use std::sync::Arc;

use dashmap::DashMap;

use super::names;

/// Component id -> `None` when running, `Some(reason)` when not.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<DashMap<String, Option<String>>>,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks a component as running.
    pub fn set_up(&self, component: &str) {
        self.components.insert(component.to_owned(), None);
        ready_gauge(component).set(1.0);
    }

    /// Marks a component as not running, with the reason `/readyz` reports.
    pub fn set_down(&self, component: &str, reason: impl Into<String>) {
        self.components.insert(component.to_owned(), Some(reason.into()));
        ready_gauge(component).set(0.0);
    }

    /// `Ok` when every registered component runs (and at least one is registered),
    /// otherwise the reasons, one per component that is down.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        if self.components.is_empty() {
            return Err(vec!["pipeline not started".to_owned()]);
        }
        let mut down: Vec<String> =
            self.components.iter().filter_map(|e| e.value().as_ref().map(|r| format!("{}: {r}", e.key()))).collect();
        down.sort();
        if down.is_empty() {
            Ok(())
        } else {
            Err(down)
        }
    }
}

/// State changes are rare, so the handle is looked up each time.
fn ready_gauge(component: &str) -> metrics::Gauge {
    metrics::gauge!(names::COMPONENT_READY, "component" => component.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_components_up() {
        let h = Health::new();
        assert!(h.readiness().is_err());
        h.set_up("a");
        h.set_up("b");
        assert!(h.readiness().is_ok());
        h.set_down("b", "crashed");
        assert_eq!(h.readiness().unwrap_err(), vec!["b: crashed".to_owned()]);
        h.set_up("b");
        assert!(h.readiness().is_ok());
    }
}
