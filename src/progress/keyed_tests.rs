use super::*;

fn caps() -> StateCaps {
    StateCaps { max_key_bytes: 8, max_value_bytes: 16, max_bytes: 64 }
}

fn span(polls: &[(usize, u64, u64)]) -> Span {
    Span(polls.to_vec())
}

fn write(key: &str, value: &str) -> HashMap<Vec<u8>, Option<Vec<u8>>> {
    HashMap::from([(key.as_bytes().to_vec(), Some(value.as_bytes().to_vec()))])
}

fn durable() -> Arc<ProcessorState> {
    let state = ProcessorState::new("count", caps());
    state.load(vec![(b"a".to_vec(), b"0".to_vec())]);
    state
}

#[test]
fn a_checkpoint_commits_the_covered_prefix_of_each_key_and_holds_the_rest() {
    let state = durable();
    state.apply(write("a", "1"), span(&[(0, 0, 0)]));
    state.apply(write("a", "2"), span(&[(0, 1, 1)]));
    state.apply(write("b", "1"), span(&[(0, 2, 2)]));
    assert_eq!(state.get(b"a"), Some(b"2".to_vec()), "reads see pending writes");

    let mut finished = [Some(1)];
    assert!(!state.clamp(&mut finished), "nothing straddles poll 1");
    let plan = state.plan(&finished);
    assert_eq!(
        plan.writes,
        vec![StateWrite { processor: "count".into(), key: b"a".to_vec(), value: Some(b"2".to_vec()) }]
    );
    state.confirm(plan);
    assert!(state.plan(&finished).writes.is_empty(), "committed once");
    assert_eq!(state.plan(&[Some(2)]).writes.len(), 1, "b's write once poll 2 is finished");
}

#[test]
fn a_write_whose_events_straddle_the_position_holds_the_position_back() {
    let state = durable();
    // One call saw events of polls 3..=5 of source 0 and poll 7 of source 1.
    state.apply(write("a", "9"), span(&[(0, 3, 5), (1, 7, 7)]));
    let mut finished = [Some(4), Some(9)];
    assert!(state.clamp(&mut finished));
    assert_eq!(finished, [Some(2), Some(6)], "both sources go back to before the call's events");
    assert!(state.plan(&finished).writes.is_empty());
    let mut later = [Some(5), Some(7)];
    assert!(!state.clamp(&mut later));
    assert_eq!(state.plan(&later).writes.len(), 1);
    let mut from_zero = [Some(3), None];
    state.clamp(&mut from_zero);
    assert_eq!(from_zero, [Some(2), None]);
    let mut first_poll = [Some(0), None];
    let first = ProcessorState::new("p", caps());
    first.load(Vec::new());
    first.apply(write("k", "v"), span(&[(0, 0, 1)]));
    first.clamp(&mut first_poll);
    assert_eq!(first_poll, [None, None], "held back to before the first poll");
}

#[test]
fn caps_refuse_with_a_named_reason_and_outside_a_store_writes_apply_at_once() {
    let state = ProcessorState::new("p", caps());
    assert_eq!(state.admit(b"123456789", Some(b"v"), 0), Err(StateRefusal::KeyTooLarge(8)));
    assert_eq!(state.admit(b"k", Some(&[0; 17]), 0), Err(StateRefusal::ValueTooLarge(16)));
    assert_eq!(state.admit(b"k", Some(b"v"), 63), Err(StateRefusal::StateFull(64)));
    assert_eq!(state.admit(b"k", None, 1000), Ok(()), "a delete always fits");
    state.apply(write("k", "v"), Span::default());
    assert_eq!((state.get(b"k"), state.bytes()), (Some(b"v".to_vec()), 2));
    assert!(state.plan(&[None]).writes.is_empty(), "nothing pending without a store");
    state.apply(HashMap::from([(b"k".to_vec(), None)]), Span::default());
    assert_eq!((state.get(b"k"), state.bytes()), (None, 0));
}
