//! Counters of host function calls, registered once per loaded module so a
//! call costs one atomic increment (no label lookup on the guest's hot path).

use super::metrics::HOST_CALLS;

/// A host function a guest may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFn {
    Log,
    RecordMetric,
    HttpRequest,
    StateGet,
    StateSet,
    StateDelete,
}

/// How a host call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    Ok,
    /// Not granted, off the allow-list, or over the rate cap.
    Denied,
    /// Granted but failed (a bad pointer, an HTTP error).
    Error,
}

const FUNCTIONS: [(HostFn, &str); 6] = [
    (HostFn::Log, "log"),
    (HostFn::RecordMetric, "record_metric"),
    (HostFn::HttpRequest, "http_request"),
    (HostFn::StateGet, "state_get"),
    (HostFn::StateSet, "state_set"),
    (HostFn::StateDelete, "state_delete"),
];
const RESULTS: [(CallResult, &str); 3] =
    [(CallResult::Ok, "ok"), (CallResult::Denied, "denied"), (CallResult::Error, "error")];

/// `flowctl_host_calls_total` handles of one processor version, by function and result.
pub struct HostCallCounters {
    counters: [[metrics::Counter; 3]; 6],
}

impl HostCallCounters {
    pub fn new(processor: &str, version: &str) -> Self {
        let counters = FUNCTIONS.map(|(_, function)| {
            RESULTS.map(|(_, result)| {
                metrics::counter!(HOST_CALLS,
                    "processor" => processor.to_owned(), "version" => version.to_owned(),
                    "function" => function, "result" => result)
            })
        });
        Self { counters }
    }

    pub fn count(&self, function: HostFn, result: CallResult) {
        self.counters[function as usize][result as usize].increment(1);
    }

    /// The label of a function name as imported (`"log"` ...), for denials
    /// raised by name.
    pub fn function(name: &str) -> Option<HostFn> {
        FUNCTIONS.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }
}
