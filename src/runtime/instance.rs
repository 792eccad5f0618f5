//! One sandboxed instance: a wasmtime `Store`, its guest functions, and the
//! calls that move events in and out under the processor's limits.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Memory, Store, TypedFunc};

use super::error::ProcessError;
use super::guest_memory::{self, unpack};
use super::module::LoadedModule;
use super::store::StoreData;
use super::trap::{self, CallLimits};
use super::usage::Usage;
use super::validate::ModuleKind;
use super::wire::{self, Input};
use super::EventResult;
use crate::event::Event;

#[path = "instance_metering.rs"]
mod metering;
use metering::arm;

type BufferFn = TypedFunc<(i32, i32), i64>;

/// A live instance, used by one thread at a time.
pub struct Instance {
    module: Arc<LoadedModule>,
    store: Store<StoreData>,
    memory: Memory,
    allocate: TypedFunc<i32, i32>,
    free: TypedFunc<(i32, i32), ()>,
    process_event: BufferFn,
    process_batch: Option<BufferFn>,
    last_error: Option<TypedFunc<(), i64>>,
    abi_version: Option<TypedFunc<(), i32>>,
    /// Fuel and bytes since the last [`Instance::take_usage`].
    usage: Usage,
    /// Fuel given to the call in progress (0 when fuel is off or settled).
    fuel_armed: u64,
    /// Memory size last reported to the module's live-instance gauge.
    counted_memory: u64,
    /// Until when this instance's memory was charged to the memory quota.
    memory_charged_until: Instant,
}

/// How a guest call ended when it did not trap.
enum Outcome<T> {
    /// What the caller read from the guest's output.
    Output(T),
    /// The guest returned 0; its `last_error` message.
    Failed(String),
}

impl Instance {
    pub(super) fn new(module: Arc<LoadedModule>) -> Result<Self, ProcessError> {
        let limits = &module.spec().limits;
        let mut store = Store::new(&module.engine.engine, StoreData::new(module.shared.clone(), limits.memory_bytes));
        store.limiter(|data| &mut data.limiter);
        store.epoch_deadline_trap();
        let call_limits = CallLimits { fuel_per_event: limits.fuel.unwrap_or(0), timeout: limits.timeout };
        arm(&mut store, &module, 1);
        let instance = module.pre.instantiate(&mut store).map_err(|e| match trap::classify(&e, call_limits) {
            err @ ProcessError::MemoryLimitExceeded { .. } => err,
            _ => ProcessError::Instantiate(format!("{e:#}")),
        })?;
        let missing =
            |what: &str| ProcessError::Instantiate(format!("export `{what}` is missing or has the wrong type"));
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| missing("memory"))?;
        store.data_mut().memory = Some(memory);
        let allocate = instance.get_typed_func(&mut store, "allocate").map_err(|_| missing("allocate"))?;
        let free = instance.get_typed_func(&mut store, "free").map_err(|_| missing("free"))?;
        let process_event =
            instance.get_typed_func(&mut store, "process_event").map_err(|_| missing("process_event"))?;
        // Optional exports are looked up without building an error for each
        // absent one (errors capture backtraces, which costs on every restart).
        let report = module.report();
        let process_batch = optional(&instance, &mut store, report.has_process_batch, "process_batch");
        let last_error = optional(&instance, &mut store, report.has_last_error, "last_error");
        let abi_version = optional(&instance, &mut store, report.declares_abi_version, "flowctl_abi_version");
        let init: Option<TypedFunc<(i32, i32), i32>> = optional(&instance, &mut store, report.has_init, "init");
        let initialize: Option<TypedFunc<(), ()>> =
            optional(&instance, &mut store, report.kind == ModuleKind::Reactor, "_initialize");
        let counted_memory = memory.data_size(&store) as u64;
        // Counted from here on; `Drop` uncounts, also when `init` fails below.
        module.shared.live.started(counted_memory);
        let mut this = Self {
            module,
            store,
            memory,
            allocate,
            free,
            process_event,
            process_batch,
            last_error,
            abi_version,
            usage: Usage::default(),
            fuel_armed: 0,
            counted_memory,
            memory_charged_until: Instant::now(),
        };
        if let Some(initialize) = initialize {
            this.run_initialize(initialize)?;
        }
        if let Some(init) = init {
            this.run_init(init)?;
        }
        Ok(this)
    }

    /// A WASI reactor's start-up (the Go runtime, C constructors), once, under
    /// the same fuel and deadline as one event.
    fn run_initialize(&mut self, initialize: TypedFunc<(), ()>) -> Result<(), ProcessError> {
        arm(&mut self.store, &self.module, 1);
        self.guarded(|this| initialize.call(&mut this.store, ()).map_err(|e| this.classify(&e)))
            .map_err(|err| ProcessError::Instantiate(format!("`_initialize` failed: {err}")))
    }

    fn run_init(&mut self, init: TypedFunc<(i32, i32), i32>) -> Result<(), ProcessError> {
        // Serializing a JSON value into a Vec cannot fail.
        let config = serde_json::to_vec(&self.module.spec().config).unwrap_or_default();
        arm(&mut self.store, &self.module, 1);
        let code = self.guarded(|this| {
            let (ptr, len) = this.write_input(Input::Bytes(&config))?;
            let code = init.call(&mut this.store, (ptr as i32, len as i32)).map_err(|e| this.classify(&e))?;
            this.free.call(&mut this.store, (ptr as i32, len as i32)).map_err(|e| this.classify(&e))?;
            Ok(code)
        })?;
        if code != 0 {
            let reason = self.last_error_message()?;
            return Err(ProcessError::Instantiate(format!("init refused the config (code {code}): {reason}")));
        }
        Ok(())
    }

    /// What `flowctl_abi_version` returns; 1 when not exported.
    pub fn abi_version(&mut self) -> Result<u32, ProcessError> {
        self.arm_metered(1);
        let Some(f) = &self.abi_version else {
            return Ok(1);
        };
        let v = f.call(&mut self.store, ()).map_err(|e| self.classify(&e))?;
        Ok(v as u32)
    }

    /// Current size of the guest's linear memory in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory.data_size(&self.store) as u64
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        &self.module
    }

    /// Runs one event through `process_event`. A `Guest` error leaves the
    /// instance usable; any error whose `poisons_instance()` does not. State
    /// writes (`permissions.state`) are applied when the call succeeded.
    pub fn process_event(&mut self, event: &Event) -> Result<Vec<Event>, ProcessError> {
        let result = self.run_event(event);
        self.settle_state(result.is_ok());
        result
    }

    fn run_event(&mut self, event: &Event) -> Result<Vec<Event>, ProcessError> {
        self.arm_metered(1);
        let granted = self.begin_state(std::slice::from_ref(event));
        let result =
            match self.call(Input::Event(event), |output, finish| wire::parse_event_output(output, event, finish)) {
                Ok(Outcome::Output(parsed)) => parsed.and_then(|r| r),
                Ok(Outcome::Failed(reason)) => Err(ProcessError::Guest(reason)),
                Err(err) => Err(err),
            };
        self.end_state(granted, result.is_ok());
        result
    }

    /// Whether state is granted; if so, this call's writes are started.
    fn begin_state(&mut self, events: &[Event]) -> bool {
        let granted = self.store.data().shared.scope.state.is_some();
        if granted {
            self.store.data_mut().state_call.begin(events);
        }
        granted
    }

    /// Holds the call's state writes if it succeeded as a whole; drops them if not.
    fn end_state(&mut self, granted: bool, succeeded: bool) {
        if granted {
            self.store.data_mut().state_call.end(succeeded);
        }
    }

    /// Applies the state writes held since the last settlement if `keep`,
    /// drops them if not. [`Instance::process_event`] and
    /// [`Instance::process_batch`] settle by themselves; after
    /// [`Instance::process_batch_held`] the caller must.
    pub fn settle_state(&mut self, keep: bool) {
        if let Some(state) = self.store.data().shared.scope.state.clone() {
            self.store.data_mut().state_call.settle(&state, keep);
        }
    }

    /// Runs a batch: through `process_batch` when exported and the batch
    /// holds more than one event (fuel budget × batch length, one deadline
    /// for the call), else event by event: one event alone costs no array
    /// around it, in or out.
    /// `Err` means the call as a whole failed and the instance must be dropped
    /// if the error `poisons_instance()`. State writes are applied unless it failed as a whole.
    pub fn process_batch(&mut self, events: &[Event]) -> Result<Vec<EventResult>, ProcessError> {
        let result = self.process_batch_held(events);
        self.settle_state(result.is_ok());
        result
    }

    /// [`Instance::process_batch`] whose state writes stay held until
    /// [`Instance::settle_state`], for a caller that learns only after the
    /// call whether it still counts.
    pub fn process_batch_held(&mut self, events: &[Event]) -> Result<Vec<EventResult>, ProcessError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if self.process_batch.is_none() || events.len() == 1 {
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                match self.run_event(event) {
                    Err(err) if err.poisons_instance() => return Err(err),
                    result => results.push(result),
                }
            }
            return Ok(results);
        }
        self.arm_metered(events.len() as u64);
        let granted = self.begin_state(events);
        let (result, succeeded) =
            match self.call(Input::Batch(events), |output, finish| wire::parse_batch_output(output, events, finish)) {
                Ok(Outcome::Output(parsed)) => {
                    let ok = parsed.is_ok();
                    (parsed, ok)
                }
                Ok(Outcome::Failed(reason)) => {
                    (Ok(events.iter().map(|_| Err(ProcessError::Guest(reason.clone()))).collect()), false)
                }
                Err(err) => (Err(err), false),
            };
        self.end_state(granted, succeeded);
        result
    }

    /// One buffer-in, buffer-out guest call (`process_batch` for a batch,
    /// else `process_event`), whose output `read` reads where the guest
    /// left it, before its buffers are freed: no copy of it on the host. The
    /// typed functions are borrowed, never cloned: a clone touches shared
    /// reference counts.
    fn call<T>(
        &mut self,
        input: Input<'_>,
        read: impl FnOnce(&[u8], wire::Finish<'_>) -> T,
    ) -> Result<Outcome<T>, ProcessError> {
        let size = input.size();
        let limit = self.module.spec().limits.max_input_bytes;
        if size > limit {
            return Err(ProcessError::InputTooLarge { size, limit });
        }
        self.usage.bytes_in += size as u64;
        let (in_ptr, in_len, packed) = self.guarded(|this| {
            let (ptr, len) = this.write_input(input)?;
            let func = match (input, &this.process_batch) {
                (Input::Batch(_), Some(batch)) => batch,
                _ => &this.process_event,
            };
            let packed = func.call(&mut this.store, (ptr as i32, len as i32)).map_err(|e| this.classify(&e))?;
            Ok((ptr, len, packed))
        })?;
        if packed == 0 {
            self.free_buffer(in_ptr, in_len)?;
            return Ok(Outcome::Failed(self.last_error_message()?));
        }
        let (ptr, len) = unpack(packed);
        let limit = self.module.spec().limits.max_output_bytes;
        if len as usize > limit {
            return Err(ProcessError::OutputTooLarge { size: len as usize, limit });
        }
        let bytes = guest_memory::slice(self.memory.data(&self.store), ptr, len)?;
        let limits = &self.module.spec().limits;
        let output = read(bytes, wire::Finish { version: self.module.version(), max_outputs: limits.max_outputs });
        self.usage.bytes_out += u64::from(len);
        // The output is read before the input is freed: a guest may return
        // (part of) its input buffer, and a real allocator writes into freed
        // memory. A reused buffer is freed once.
        self.free_buffer(in_ptr, in_len)?;
        if ptr != in_ptr {
            self.free_buffer(ptr, len)?;
        }
        Ok(Outcome::Output(output))
    }

    fn free_buffer(&mut self, ptr: u32, len: u32) -> Result<(), ProcessError> {
        self.free.call(&mut self.store, (ptr as i32, len as i32)).map_err(|e| self.classify(&e))
    }

    /// Writes `input` into a buffer from the guest's `allocate`.
    fn write_input(&mut self, input: Input<'_>) -> Result<(u32, u32), ProcessError> {
        let len = input.size() as u32;
        let ptr = self.allocate.call(&mut self.store, len as i32).map_err(|e| self.classify(&e))? as u32;
        if ptr == 0 {
            return Err(ProcessError::Trap(format!("guest `allocate({len})` returned 0")));
        }
        let data = self.memory.data_mut(&mut self.store);
        input.write_to(guest_memory::slice_mut(data, ptr, len)?);
        Ok((ptr, len))
    }

    /// The guest's `last_error` message (freed after reading).
    fn last_error_message(&mut self) -> Result<String, ProcessError> {
        let Some(last_error) = &self.last_error else {
            return Ok("the guest reported a failure (it exports no `last_error`)".to_owned());
        };
        let packed = last_error.call(&mut self.store, ()).map_err(|e| self.classify(&e))?;
        if packed == 0 {
            return Ok("the guest reported a failure without a message".to_owned());
        }
        let (ptr, len) = unpack(packed);
        let limit = self.module.spec().limits.max_output_bytes;
        if len as usize > limit {
            return Err(ProcessError::OutputTooLarge { size: len as usize, limit });
        }
        let data = self.memory.data(&self.store);
        let message = String::from_utf8_lossy(guest_memory::slice(data, ptr, len)?).into_owned();
        self.free.call(&mut self.store, (ptr as i32, len as i32)).map_err(|e| self.classify(&e))?;
        Ok(message)
    }

    /// Runs `f`; a memory-limit denial recorded during it wins over the
    /// error it surfaced as (e.g. a guest allocator that traps on failure).
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, ProcessError>) -> Result<T, ProcessError> {
        self.store.data_mut().limiter.denied = None;
        let result = f(self);
        match (result, self.store.data().limiter.denied) {
            (Err(_), Some(denied)) => {
                Err(ProcessError::MemoryLimitExceeded { limit: denied.limit, requested: denied.requested })
            }
            (result, _) => result,
        }
    }

    fn classify(&self, err: &wasmtime::Error) -> ProcessError {
        let limits = &self.module.spec().limits;
        trap::classify(err, CallLimits { fuel_per_event: limits.fuel.unwrap_or(0), timeout: limits.timeout })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.charge_memory();
        self.module.shared.live.dropped(self.counted_memory);
    }
}

/// An optional export, typed; `None` when the report says it is absent.
fn optional<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &wasmtime::Instance,
    store: &mut Store<StoreData>,
    present: bool,
    name: &str,
) -> Option<TypedFunc<P, R>> {
    if !present {
        return None;
    }
    instance.get_typed_func(&mut *store, name).ok()
}
