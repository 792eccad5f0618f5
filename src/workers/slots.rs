//! The instances one worker holds, one slot per module version.

use std::sync::Arc;

use crate::actors::versions::{Version, VersionSet};
use crate::runtime::{InstanceSlot, LoadedModule, Usage};

#[derive(Default)]
pub(super) struct Slots {
    slots: Vec<InstanceSlot>,
    /// Usage of slots discarded (after a panic or a stuck call), so per-batch deltas stay whole.
    retired: Vec<(Arc<LoadedModule>, Usage)>,
    /// Slots of versions a swap took out, held until [`Slots::drop_swapped_out`].
    swapped_out: Vec<InstanceSlot>,
}

impl Slots {
    /// The slot of `version`'s module; a new one takes its first instances
    /// from those the version came with (see [`Version::ready`]).
    pub fn get(&mut self, version: &Version) -> &mut InstanceSlot {
        let module = &version.module;
        let pos = match self.slots.iter().position(|s| Arc::ptr_eq(s.module(), module)) {
            Some(pos) => pos,
            None => {
                self.slots.push(InstanceSlot::with_ready(module.clone(), version.ready.clone()));
                self.slots.len() - 1
            }
        };
        &mut self.slots[pos]
    }

    /// Drops the slot of `module` and its instance; the next call starts afresh.
    pub fn discard(&mut self, module: &Arc<LoadedModule>) {
        let used = self.usage(module);
        self.slots.retain(|s| !Arc::ptr_eq(s.module(), module));
        self.retired.retain(|(m, _)| !Arc::ptr_eq(m, module));
        self.retired.push((module.clone(), used));
    }

    /// Restarts by reason, fuel and bytes of `module` in this worker so far.
    pub fn usage(&self, module: &Arc<LoadedModule>) -> Usage {
        let mut total = Usage::default();
        for (_, used) in self.retired.iter().filter(|(m, _)| Arc::ptr_eq(m, module)) {
            total.add(used);
        }
        for slot in self.slots.iter().filter(|s| Arc::ptr_eq(s.module(), module)) {
            total.add(&slot.usage());
        }
        total
    }

    #[cfg(test)]
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.is_live()).count()
    }

    /// Sets aside the slots of versions no longer in the set (after a swap),
    /// for [`Slots::drop_swapped_out`].
    pub fn retain(&mut self, set: &VersionSet) {
        let current = |module: &Arc<LoadedModule>| set.versions().iter().any(|v| Arc::ptr_eq(&v.module, module));
        self.swapped_out.extend(self.slots.extract_if(.., |s| !current(s.module())));
        self.retired.retain(|(m, _)| current(m));
    }

    /// Drops the instances [`Slots::retain`] set aside. Tearing down their
    /// stores (each linear memory and, with the last instance, often the
    /// module's compiled code) took 20-370 us per worker and swap
    /// (docs/performance.md): the worker does it once the batch that set them
    /// aside has been handed on, so that the new version's first outputs do
    /// not wait for it.
    pub fn drop_swapped_out(&mut self) {
        self.swapped_out.clear();
    }
}
