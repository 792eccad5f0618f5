//! What an [`Instance`]'s calls consume, booked as it goes: the fuel armed
//! for each call and used, the memory held (gauge and quota), and the
//! deadline set before each call.

use std::time::Instant;

use wasmtime::Store;

use super::Instance;
use crate::runtime::module::LoadedModule;
use crate::runtime::quota::QuotaKind;
use crate::runtime::store::StoreData;
use crate::runtime::usage::Usage;

impl Instance {
    /// Fuel and bytes since the last call of this; also brings the module's
    /// memory gauge up to date. Cheap: one fuel read, and a size read only
    /// after the limiter let the memory grow (a size read through the store
    /// costs about 1.5% of a one-event call).
    pub fn take_usage(&mut self) -> Usage {
        self.settle_fuel();
        self.charge_memory();
        if std::mem::take(&mut self.store.data_mut().limiter.grew) {
            let memory = self.memory_bytes();
            if memory != self.counted_memory {
                self.module.shared.live.resized(self.counted_memory, memory);
                self.counted_memory = memory;
            }
        }
        std::mem::take(&mut self.usage)
    }

    /// Books the memory held since the last charge against the memory quota.
    pub(super) fn charge_memory(&mut self) {
        let quota = &self.module.shared.scope.quota;
        if !quota.is_active() {
            return;
        }
        let now = Instant::now();
        let held = now.saturating_duration_since(self.memory_charged_until).as_secs_f64();
        self.memory_charged_until = now;
        let mb_hours = self.memory_bytes() as f64 / (1024.0 * 1024.0) * held / 3600.0;
        quota.record(QuotaKind::Memory, mb_hours);
    }

    /// Arms the next call, first booking what the previous one consumed.
    pub(super) fn arm_metered(&mut self, events: u64) {
        self.settle_fuel();
        arm(&mut self.store, &self.module, events);
        self.fuel_armed = self.module.spec().limits.fuel.map_or(0, |f| f.saturating_mul(events));
    }

    fn settle_fuel(&mut self) {
        if self.fuel_armed > 0 {
            // A fueled store always answers; a trap on exhaustion leaves 0.
            let left = self.store.get_fuel().unwrap_or(0);
            self.usage.fuel += self.fuel_armed.saturating_sub(left);
            self.fuel_armed = 0;
        }
    }
}

/// Sets the deadline (and fuel, when metered) for the next guest call.
pub(super) fn arm(store: &mut Store<StoreData>, module: &LoadedModule, events: u64) {
    let limits = &module.spec().limits;
    store.set_epoch_deadline(module.deadline_ticks);
    if module.wall_deadline {
        store.data_mut().deadline = Instant::now() + limits.timeout;
    }
    if let Some(fuel) = limits.fuel {
        // Only the fueled engine gets here; its stores always accept fuel.
        let _ = store.set_fuel(fuel.saturating_mul(events));
    }
}
