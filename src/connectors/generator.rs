//! The `generator` source: synthetic events, at a rate or as fast as they are
//! polled, forever or up to `count`. Output is deterministic given the seed
//! (except `timestamp`, which is the time of generation).
//!
//! Event ids are `<source_id>-<n>` with `n` counting from 0, zero-padded to 12
//! digits so ids sort by sequence; the `simple` profile also carries `n` as
//! `data.seq`.

use std::time::Instant;

use super::pacer::{Pacer, Permit};
use super::rng::SplitMix64;
use super::stellar::StellarProfile;
use super::{ConnectorError, Source, IDLE_POLL};
use crate::config::{GeneratorConfig, GeneratorProfile};
use crate::event::{Event, Parts};
use crate::progress::SourcePosition;

/// Event type of the `simple` profile.
pub const SIMPLE_EVENT_TYPE: &str = "flowctl.generated.v1";

/// Generates events for one `generator` source.
pub struct Generator {
    source_id: String,
    profile: Profile,
    next_seq: u64,
    /// Events still to emit when a `count` is set.
    remaining: Option<u64>,
    /// Present only when a positive, finite rate is configured.
    pacer: Option<Pacer>,
}

enum Profile {
    Simple(SimpleProfile),
    Stellar(Box<StellarProfile>),
}

impl Generator {
    pub fn new(source_id: &str, config: &GeneratorConfig) -> Self {
        let profile = match config.profile {
            GeneratorProfile::Simple => Profile::Simple(SimpleProfile::new(source_id, config)),
            GeneratorProfile::Stellar => Profile::Stellar(Box::new(StellarProfile::new(config.seed))),
        };
        let pacer = config.rate.filter(|r| r.is_finite() && *r > 0.0).map(|r| Pacer::new(r, Instant::now()));
        Self { source_id: source_id.to_string(), profile, next_seq: 0, remaining: config.count, pacer }
    }

    /// The id of event `seq`; the inverse is [`parse_seq`].
    pub fn event_id(source_id: &str, seq: u64) -> String {
        let mut id = String::new();
        write_event_id(&mut id, source_id, seq);
        id
    }

    /// How many events may go out now, sleeping (never spinning) until some are
    /// due. `None` means nothing became due within [`IDLE_POLL`].
    fn await_permit(&mut self, want: usize) -> Option<usize> {
        let Some(pacer) = &mut self.pacer else { return Some(want) };
        let deadline = Instant::now() + IDLE_POLL;
        loop {
            let now = Instant::now();
            match pacer.permit(now, want) {
                Permit::Emit(n) => return Some(n),
                Permit::Wait(wait) if now + wait > deadline => {
                    std::thread::sleep(deadline.saturating_duration_since(now));
                    return None;
                }
                Permit::Wait(wait) => std::thread::sleep(wait),
            }
        }
    }
}

/// Appends `<source_id>-<seq>`, `seq` zero-padded to 12 digits.
fn write_event_id(id: &mut String, source_id: &str, seq: u64) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(seq);
    id.push_str(source_id);
    id.push('-');
    id.extend(std::iter::repeat_n('0', 12usize.saturating_sub(digits.len())));
    id.push_str(digits);
}

/// The sequence number inside a generator event id, if it is one.
pub fn parse_seq(id: &str) -> Option<u64> {
    id.rsplit_once('-')?.1.parse().ok()
}

impl Source for Generator {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        let want = match self.remaining {
            Some(r) => r.min(max as u64) as usize,
            None => max,
        };
        if want == 0 {
            return Ok(self.remaining != Some(0));
        }
        let Some(n) = self.await_permit(want) else { return Ok(true) };
        let timestamp = Event::now_millis();
        out.reserve(n);
        let mut id = String::with_capacity(self.source_id.len() + 13);
        let mut data = Vec::new();
        for _ in 0..n {
            let seq = self.next_seq;
            self.next_seq += 1;
            id.clear();
            write_event_id(&mut id, &self.source_id, seq);
            out.push(match &mut self.profile {
                Profile::Simple(p) => {
                    data.clear();
                    p.write_data(seq, &mut data);
                    Event::from_parts(Parts {
                        id: &id,
                        event_type: SIMPLE_EVENT_TYPE,
                        timestamp,
                        data: Some(&data),
                        metadata: Vec::new(),
                    })
                }
                Profile::Stellar(p) => Event::new(&id, super::stellar::EVENT_TYPE, timestamp, p.transaction()),
            });
        }
        if let Some(r) = &mut self.remaining {
            *r -= n as u64;
        }
        Ok(self.remaining != Some(0))
    }

    fn position(&self) -> Option<SourcePosition> {
        Some(SourcePosition::Generator { emitted: self.next_seq })
    }

    /// Goes on after `emitted` events with the data an uninterrupted run
    /// would have made: the random draws of the skipped events are replayed.
    fn resume(&mut self, at: &SourcePosition) -> Result<(), ConnectorError> {
        let SourcePosition::Generator { emitted } = *at else {
            return Err(ConnectorError::Other {
                connector: self.source_id.clone(),
                message: format!("the saved position is a {} position, not a generator's; run with --from-start or `flowctl state reset`", at.kind()),
            });
        };
        let skip = emitted.saturating_sub(self.next_seq);
        let mut scratch = Vec::new();
        for seq in self.next_seq..self.next_seq + skip {
            match &mut self.profile {
                Profile::Simple(p) => {
                    scratch.clear();
                    p.write_data(seq, &mut scratch);
                }
                Profile::Stellar(p) => drop(p.transaction()),
            }
        }
        self.next_seq += skip;
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(skip);
        }
        Ok(())
    }
}

/// Small events: a sequence number, a user, an amount and padding up to the
/// configured event size. Their `data` is written as bytes, in the form (and
/// key order) `serde_json` gives the same object: generating must not cost
/// more than what the engine does with an event.
struct SimpleProfile {
    rng: SplitMix64,
    /// The padding, letters only, so it needs no escaping.
    payload: String,
}

impl SimpleProfile {
    fn new(source_id: &str, config: &GeneratorConfig) -> Self {
        let mut profile = Self { rng: SplitMix64::new(config.seed), payload: String::new() };
        let mut data = Vec::new();
        profile.write_data_with(0, 0, 100_000, &mut data);
        let sample = Event::from_parts(Parts {
            id: &Generator::event_id(source_id, 0),
            event_type: SIMPLE_EVENT_TYPE,
            timestamp: Event::now_millis(),
            data: Some(&data),
            metadata: Vec::new(),
        });
        let padding = config.event_size.saturating_sub(sample.as_json().len());
        profile.payload = (b'a'..=b'z').cycle().take(padding).map(char::from).collect();
        profile
    }

    fn write_data(&mut self, seq: u64, out: &mut Vec<u8>) {
        let user = self.rng.below(10_000);
        let cents = self.rng.range(1, 999_999);
        self.write_data_with(seq, user, cents, out);
    }

    /// `{"amount":..,"payload":"..","seq":..,"user":"user-NNNN"}`.
    fn write_data_with(&self, seq: u64, user: u64, cents: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"amount\":");
        // Writing a finite f64 into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &(cents as f64 / 100.0));
        out.extend_from_slice(b",\"payload\":\"");
        out.extend_from_slice(self.payload.as_bytes());
        out.extend_from_slice(b"\",\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        out.extend_from_slice(b",\"user\":\"user-");
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(user);
        out.extend(std::iter::repeat_n(b'0', 4usize.saturating_sub(digits.len())));
        out.extend_from_slice(digits.as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(profile: GeneratorProfile, count: Option<u64>, seed: u64) -> GeneratorConfig {
        GeneratorConfig { profile, count, rate: None, event_size: 256, seed }
    }

    fn drain(source: &mut Generator, max: usize) -> Vec<Event> {
        let mut out = Vec::new();
        let mut polls = 0;
        while source.poll_batch(&mut out, max).expect("poll") {
            polls += 1;
            assert!(polls < 1_000_000, "source never ended");
        }
        out
    }

    #[test]
    fn resuming_goes_on_with_the_events_an_uninterrupted_run_makes() {
        for profile in [GeneratorProfile::Simple, GeneratorProfile::Stellar] {
            let whole = drain(&mut Generator::new("gen", &config(profile, Some(50), 7)), 8);
            let mut first = Generator::new("gen", &config(profile, Some(50), 7));
            let mut head = Vec::new();
            first.poll_batch(&mut head, 20).expect("poll");
            let saved = first.position().expect("position");
            assert_eq!(saved, SourcePosition::Generator { emitted: 20 });
            let mut resumed = Generator::new("gen", &config(profile, Some(50), 7));
            resumed.resume(&saved).expect("resume");
            let rest = drain(&mut resumed, 8);
            assert_eq!(rest.len(), 30, "the count covers both runs");
            for (a, b) in rest.iter().zip(&whole[20..]) {
                assert_eq!((a.id(), a.data_json()), (b.id(), b.data_json()));
            }
        }
    }

    #[test]
    fn stops_after_count_with_sequential_ids() {
        let mut g = Generator::new("gen", &config(GeneratorProfile::Simple, Some(1000), 1));
        let events = drain(&mut g, 64);
        assert_eq!(events.len(), 1000);
        for (n, e) in events.iter().enumerate() {
            assert_eq!(parse_seq(e.id()), Some(n as u64));
            assert_eq!(e.data()["seq"], n as u64);
            assert_eq!(e.event_type(), SIMPLE_EVENT_TYPE);
        }
        assert_eq!(events[42].id(), "gen-000000000042");
        let mut ids: Vec<&str> = events.iter().map(|e| e.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 1000, "ids are unique and sort by sequence");
        assert_eq!(ids[999], events[999].id());
    }

    #[test]
    fn zero_count_ends_at_once_and_ended_source_stays_ended() {
        let mut g = Generator::new("gen", &config(GeneratorProfile::Simple, Some(0), 1));
        let mut out = Vec::new();
        assert!(!g.poll_batch(&mut out, 10).expect("poll"));
        let mut g = Generator::new("gen", &config(GeneratorProfile::Simple, Some(3), 1));
        assert!(!g.poll_batch(&mut out, 10).expect("poll"), "last events come with Ok(false)");
        assert!(!g.poll_batch(&mut out, 10).expect("poll"));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn unbounded_generator_fills_each_poll() {
        let mut g = Generator::new("gen", &config(GeneratorProfile::Simple, None, 1));
        let mut out = Vec::new();
        assert!(g.poll_batch(&mut out, 500).expect("poll"));
        assert_eq!(out.len(), 500);
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        for profile in [GeneratorProfile::Simple, GeneratorProfile::Stellar] {
            let a = drain(&mut Generator::new("g", &config(profile, Some(200), 9)), 50);
            let b = drain(&mut Generator::new("g", &config(profile, Some(200), 9)), 77);
            let c = drain(&mut Generator::new("g", &config(profile, Some(200), 10)), 50);
            let data = |v: &[Event]| v.iter().map(|e| e.data().clone()).collect::<Vec<_>>();
            assert_eq!(data(&a), data(&b), "{profile:?}: batch size must not change the data");
            assert_ne!(data(&a), data(&c), "{profile:?}");
        }
    }

    #[test]
    fn simple_events_are_about_event_size() {
        for size in [64usize, 256, 1024, 8192] {
            let mut cfg = config(GeneratorProfile::Simple, Some(100), 3);
            cfg.event_size = size;
            let events = drain(&mut Generator::new("src", &cfg), 100);
            for e in &events {
                let len = e.to_json().len();
                assert!(len <= size.max(170) + 16 && len + 16 >= size, "size {size}: event is {len} bytes");
            }
        }
    }

    #[test]
    fn simple_data_is_what_serde_json_writes_for_the_same_object() {
        let profile = SimpleProfile { rng: SplitMix64::new(1), payload: "abc".into() };
        for (seq, user, cents) in [(0, 0, 1), (7, 42, 100_000), (123_456, 9_999, 999_999)] {
            let mut written = Vec::new();
            profile.write_data_with(seq, user, cents, &mut written);
            let expected = serde_json::json!({
                "seq": seq, "user": format!("user-{user:04}"), "amount": cents as f64 / 100.0, "payload": "abc",
            });
            assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&expected).unwrap());
        }
        assert_eq!(Generator::event_id("gen", 42), "gen-000000000042");
        assert_eq!(Generator::event_id("g", 1_234_567_890_123), "g-1234567890123");
    }

    #[test]
    fn rate_limited_generator_emits_in_order() {
        let mut cfg = config(GeneratorProfile::Simple, Some(30), 1);
        cfg.rate = Some(2000.0);
        let events = drain(&mut Generator::new("r", &cfg), 8);
        let seqs: Vec<u64> = events.iter().filter_map(|e| parse_seq(e.id())).collect();
        assert_eq!(seqs, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn slow_rate_returns_empty_polls_instead_of_blocking() {
        let mut cfg = config(GeneratorProfile::Simple, None, 1);
        cfg.rate = Some(0.01);
        let mut g = Generator::new("slow", &cfg);
        let mut out = Vec::new();
        assert!(g.poll_batch(&mut out, 10).expect("poll"));
        assert_eq!(out.len(), 1, "the first event is due at once");
        assert!(g.poll_batch(&mut out, 10).expect("poll"));
        assert_eq!(out.len(), 1, "the next is 100 s away: the poll gives up after IDLE_POLL");
    }

    #[test]
    fn stellar_profile_sets_its_type() {
        let events = drain(&mut Generator::new("l", &config(GeneratorProfile::Stellar, Some(5), 1)), 5);
        assert!(events.iter().all(|e| e.event_type() == super::super::stellar::EVENT_TYPE));
    }
}
