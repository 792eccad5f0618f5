//! `failing`: a test processor that fails on purpose. With `fail_every: N` it
//! returns an error for every event whose id ends in a number divisible by N
//! (generator ids are `<source>-<n>`), so which events fail is deterministic
//! whatever the pool size. Everything else passes through unchanged.

use flowctl_sdk::{Error, Event, Output, Processor, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Fail events whose id number is a multiple of this; 0 never fails.
    #[serde(default)]
    pub fail_every: u64,
}

pub struct Failing {
    every: u64,
}

impl Processor for Failing {
    type Config = Config;

    fn new(config: Config) -> Result<Self> {
        Ok(Self { every: config.fail_every })
    }

    fn process(&mut self, event: Event) -> Result<Output> {
        let number = event.id.rsplit(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse::<u64>().ok());
        match number {
            Some(n) if self.every > 0 && n % self.every == 0 => {
                Err(Error::new(format!("event {} fails on purpose (fail_every: {})", event.id, self.every)))
            }
            _ => Ok(Output::One(event)),
        }
    }
}

flowctl_sdk::processor!(Failing);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_exactly_the_multiples() {
        let mut p = Failing::new(Config { fail_every: 10 }).unwrap();
        let event = |id: &str| Event { id: id.into(), ..Event::default() };
        assert!(p.process(event("gen-000000000010")).is_err());
        assert!(p.process(event("gen-000000000000")).is_err());
        assert!(p.process(event("gen-000000000011")).is_ok());
        assert!(p.process(event("no-number-here")).is_ok());
    }
}
