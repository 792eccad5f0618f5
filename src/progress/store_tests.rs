use super::*;

fn gen(n: u64) -> SourcePosition {
    SourcePosition::Generator { emitted: n }
}

#[test]
fn positions_and_state_commit_together_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::open(dir.path(), "demo").expect("open");
    assert!(store.positions().expect("positions").is_empty());
    let write = |key: &str, value: Option<&str>| StateWrite {
        processor: "count".into(),
        key: key.as_bytes().to_vec(),
        value: value.map(|v| v.as_bytes().to_vec()),
    };
    store.commit(&[("gen", &gen(10))], &[write("a", Some("1")), write("b", Some("2"))]).expect("commit");
    store.commit(&[("gen", &gen(20))], &[write("a", None)]).expect("commit");
    drop(store);
    let store = StateStore::open(dir.path(), "demo").expect("reopen");
    assert_eq!(store.positions().expect("positions")["gen"].position, gen(20));
    assert_eq!(store.state_of("count").expect("state"), vec![(b"b".to_vec(), b"2".to_vec())]);
    assert_eq!(store.state_sizes().expect("sizes")["count"], StateSize { keys: 1, bytes: 2 });
    assert!(store.state_of("other").expect("state").is_empty());
}

#[test]
fn another_pipelines_or_a_damaged_store_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(StateStore::open(dir.path(), "a").expect("open"));
    std::fs::copy(store_path(dir.path(), "a"), store_path(dir.path(), "b")).expect("copy");
    let err = StateStore::open(dir.path(), "b").err().expect("foreign");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("belongs to pipeline \"a\""), "{err}");

    std::fs::write(store_path(dir.path(), "c"), b"not a database at all, just some text").expect("write");
    let err = StateStore::open(dir.path(), "c").err().expect("garbage");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("flowctl state reset"), "{err}");
    assert!(reset(dir.path(), "c").expect("reset"), "a damaged store can be reset");
    assert!(!reset(dir.path(), "c").expect("reset again"));
}

#[test]
fn a_second_process_on_the_same_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = StateStore::open(dir.path(), "demo").expect("open");
    let err = StateStore::open(dir.path(), "demo").err().expect("in use");
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
}

#[test]
fn a_file_where_the_directory_should_be_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("state");
    std::fs::write(&file, b"x").expect("write");
    let err = StateStore::open(&file, "demo").err().expect("not a dir");
    assert!(err.to_string().contains("is not a directory"), "{err}");
}
