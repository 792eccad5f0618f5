//! `passthrough`: emits every event unchanged. The baseline for measuring the
//! cost of the WASM boundary itself: it hands each event's JSON back as it
//! came, without parsing it (`Processor::process_json`), and a batch back
//! whole (`Processor::process_batch_json`).
//!
//! A batch's output is its input, byte for byte, and that is exactly right
//! by the ABI: the output holds one entry per input event, in order, each
//! what `process_event` returns for it, and passthrough's entry for an event
//! is that event. The module checks nothing: the host wrote the batch from
//! events it holds, and checks every guest's output anyway.

use flowctl_sdk::{BatchOutput, Event, Input, Output, Processor, Result};

pub struct Passthrough;

impl Processor for Passthrough {
    type Config = flowctl_sdk::abi::NoConfig;
    const INPUT: Input = Input::Json;

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

    fn process_batch_json(&mut self, _batch: &[u8], _out: &mut Vec<u8>) -> Result<BatchOutput> {
        Ok(BatchOutput::SameAsInput)
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

    #[test]
    fn a_batch_is_its_own_output() {
        let mut out = Vec::new();
        let batch = br#"[{"id":"a"},{"id":"b"}]"#;
        assert_eq!(Passthrough.process_batch_json(batch, &mut out).unwrap(), BatchOutput::SameAsInput);
        assert!(out.is_empty());
    }
}
