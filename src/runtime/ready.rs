//! Instances made and `init`-ed ahead of their first call, for the slots that
//! first need one to take instead of instantiating on their own thread. The
//! hot reload prepares them on its background loader, so a worker's first
//! batch of a new version runs at once rather than after instantiate + `init`.

use std::sync::{Arc, Mutex, PoisonError};

use super::error::ProcessError;
use super::instance::Instance;
use super::module::LoadedModule;

/// Ready instances of one module, shared by the workers that will take them.
/// Cheap to clone; empty by default (the slots then instantiate lazily).
#[derive(Clone, Default)]
pub struct ReadyInstances {
    /// Never holds the module itself, only its instances: an instance holds
    /// its module, so a module holding these would never be freed.
    inner: Arc<Mutex<Vec<Instance>>>,
}

impl ReadyInstances {
    /// `count` fresh instances of `module`, each with `init` run. Fails with the
    /// first instance that fails: the module cannot be relied on to start.
    pub fn prepare(module: &Arc<LoadedModule>, count: usize) -> Result<ReadyInstances, ProcessError> {
        let instances = (0..count).map(|_| module.instantiate()).collect::<Result<Vec<_>, _>>()?;
        Ok(ReadyInstances { inner: Arc::new(Mutex::new(instances)) })
    }

    /// One ready instance of `module`, if any is left.
    pub fn take(&self, module: &Arc<LoadedModule>) -> Option<Instance> {
        let mut instances = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let pos = instances.iter().position(|i| Arc::ptr_eq(i.module(), module))?;
        Some(instances.swap_remove(pos))
    }

    /// Instances not taken yet.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for ReadyInstances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyInstances").field("left", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::test_guests::{event, load, process, spec, ECHO};
    use crate::runtime::InstanceSlot;

    #[test]
    fn prepared_instances_are_live_and_each_is_taken_once() {
        let module = load(&process(ECHO), spec());
        let ready = ReadyInstances::prepare(&module, 2).expect("prepare");
        assert_eq!((ready.len(), module.instances_alive()), (2, 2), "made and init-ed up front");
        let other = load(&process(ECHO), spec());
        assert!(ready.take(&other).is_none(), "only instances of their own module");
        assert!(ready.clone().take(&module).is_some() && ready.take(&module).is_some());
        assert!(ready.take(&module).is_none());
        assert_eq!(module.instances_alive(), 0, "taken and dropped");
    }

    #[test]
    fn a_slot_makes_its_first_call_on_a_ready_instance() {
        let module = load(&process(ECHO), spec());
        let ready = ReadyInstances::prepare(&module, 1).expect("prepare");
        let mut slot = InstanceSlot::with_ready(module.clone(), ready.clone());
        let outputs = slot.call(&[event("e1")]).expect("call");
        assert_eq!(outputs[0].as_ref().expect("event")[0].id(), "e1");
        assert!(ready.is_empty(), "the slot took it");
        assert_eq!(module.instances_alive(), 1, "and made none of its own");
        // Once they are gone, the slot instantiates as it always did.
        drop(slot);
        let mut slot = InstanceSlot::with_ready(module.clone(), ready);
        assert!(slot.call(&[event("e2")]).is_ok());
        assert_eq!(module.instances_alive(), 1);
    }
}
