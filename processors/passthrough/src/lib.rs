//! `passthrough`: emits every event unchanged. The baseline for measuring the
//! cost of the WASM boundary itself: it hands each event's JSON back as it
//! came, without parsing it (`Processor::process_json`).

use flowctl_sdk::{Event, Output, Processor, Result};

pub struct Passthrough;

impl Processor for Passthrough {
    type Config = flowctl_sdk::abi::NoConfig;

    fn new(_: Self::Config) -> Result<Self> {
        Ok(Passthrough)
    }

    fn process(&mut self, event: Event) -> Result<Output> {
        Ok(Output::One(event))
    }

    fn process_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }
}

flowctl_sdk::processor!(Passthrough);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_path_and_the_typed_path_agree() {
        let text = br#"{"id":"a","type":"t","timestamp":1,"data":{"x":[1,2]},"metadata":{"k":"v"}}"#;
        let mut out = Vec::new();
        Passthrough.process_json(text, &mut out).unwrap();
        let event: Event = serde_json::from_slice(text).unwrap();
        let typed = Passthrough.process(event.clone()).unwrap();
        assert_eq!(typed, Output::One(serde_json::from_slice(&out).unwrap()));
        assert_eq!(typed, Output::One(event));
    }
}
