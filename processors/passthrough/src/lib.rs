//! `passthrough`: emits every event unchanged. The baseline for measuring the
//! cost of the WASM boundary itself.

use flowctl_sdk::{Event, Result};

pub fn identity(event: Event) -> Result<Event> {
    Ok(event)
}

flowctl_sdk::map!(identity);
