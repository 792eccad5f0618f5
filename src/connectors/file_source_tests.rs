use std::io::Write;

use super::*;

fn write_lines(path: &Path, lines: &[&str], append: bool) {
    let mut f =
        std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(path).expect("open");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
}

fn source(path: &Path, follow: bool) -> FileSource {
    FileSource::open("in", &FileSourceConfig { path: path.to_path_buf(), follow }).expect("open")
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.id()).collect()
}

/// Polls until `want` events arrived; bounded so a bug fails instead of hanging.
fn poll_until(src: &mut FileSource, out: &mut Vec<Event>, want: usize) {
    for _ in 0..100 {
        if out.len() >= want {
            return;
        }
        assert!(src.poll_batch(out, 100).expect("poll"), "a followed file never ends");
    }
    panic!("only {} of {want} events arrived: {:?}", out.len(), ids(out));
}

#[test]
fn reads_a_file_and_turns_bad_lines_into_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.jsonl");
    write_lines(&path, &[r#"{"id":"1"}"#, "", "garbage", r#"{"id":"2","data":{"x":1}}"#], false);
    let mut src = source(&path, false);
    let mut out = Vec::new();
    let mut rejects = Vec::new();
    let mut polls = 0;
    while src.poll_batch(&mut out, 1).expect("poll") {
        rejects.extend(src.take_rejects());
        polls += 1;
        assert!(polls < 100);
    }
    rejects.extend(src.take_rejects());
    assert_eq!(ids(&out), ["1", "2"], "the bad line did not stop the source");
    assert_eq!(rejects.len(), 1);
    assert_eq!((rejects[0].line_no, rejects[0].raw.as_str()), (3, "garbage"));
    assert!(!src.poll_batch(&mut out, 10).expect("poll"), "an ended source stays ended");
}

#[test]
fn large_file_reads_in_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    let lines: Vec<String> =
        (0..50_000).map(|i| format!(r#"{{"id":"{i}","data":{{"pad":"{}"}}}}"#, "x".repeat(50))).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    write_lines(&path, &refs, false);
    let mut src = source(&path, false);
    let mut out = Vec::new();
    let mut polls = 0;
    loop {
        let before = out.len();
        let more = src.poll_batch(&mut out, 1000).expect("poll");
        assert!(out.len() - before <= 1000, "never more than max per poll");
        polls += 1;
        if !more {
            break;
        }
    }
    assert_eq!(out.len(), 50_000);
    assert!(out.iter().enumerate().all(|(i, e)| e.id() == i.to_string()));
    assert!(polls >= 50);
}

#[test]
fn missing_file_fails_at_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = FileSource::open("in", &FileSourceConfig { path: dir.path().join("nope.jsonl"), follow: true }).err();
    assert!(err.is_some_and(|e| e.to_string().contains("nope.jsonl")));
}

#[test]
fn follow_picks_up_appended_lines_and_waits_for_half_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.jsonl");
    write_lines(&path, &[r#"{"id":"a"}"#], false);
    let mut src = source(&path, true);
    let mut out = Vec::new();
    poll_until(&mut src, &mut out, 1);
    assert!(src.poll_batch(&mut out, 10).expect("poll"), "at the end a followed file idles, not ends");
    assert_eq!(out.len(), 1);

    let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    f.write_all(br#"{"id":"b"}"#).expect("write");
    f.write_all(b"\n{\"id\":").expect("write half a line");
    f.flush().expect("flush");
    poll_until(&mut src, &mut out, 2);
    assert!(src.take_rejects().is_empty(), "a half-written line is not a reject");
    f.write_all(b"\"c\"}\n").expect("finish the line");
    poll_until(&mut src, &mut out, 3);
    assert_eq!(ids(&out), ["a", "b", "c"]);
}

#[test]
fn follow_rereads_a_truncated_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trunc.jsonl");
    write_lines(
        &path,
        &[r#"{"id":"old-1","data":"long enough to be longer than the new content"}"#, r#"{"id":"old-2"}"#],
        false,
    );
    let mut src = source(&path, true);
    let mut out = Vec::new();
    poll_until(&mut src, &mut out, 2);
    write_lines(&path, &[r#"{"id":"new-1"}"#], false);
    poll_until(&mut src, &mut out, 3);
    assert_eq!(ids(&out), ["old-1", "old-2", "new-1"]);
}

#[test]
fn follow_switches_to_a_rotated_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.jsonl");
    write_lines(&path, &[r#"{"id":"1"}"#], false);
    let mut src = source(&path, true);
    let mut out = Vec::new();
    poll_until(&mut src, &mut out, 1);
    // Rotation: the old file moves away (a last line still lands in it), a new one takes the name.
    write_lines(&path, &[r#"{"id":"2"}"#], true);
    std::fs::rename(&path, dir.path().join("app.jsonl.1")).expect("rename");
    write_lines(&path, &[r#"{"id":"3"}"#, r#"{"id":"4"}"#], false);
    poll_until(&mut src, &mut out, 4);
    assert_eq!(ids(&out), ["1", "2", "3", "4"]);
    assert!(src.take_rejects().is_empty());
}

fn drain(src: &mut FileSource, max: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while src.poll_batch(&mut out, max).expect("poll") {}
    out
}

#[test]
fn resumes_after_the_saved_position_and_nowhere_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.jsonl");
    write_lines(&path, &[r#"{"id":"1"}"#, r#"{"id":"2"}"#, r#"{"id":"3"}"#], false);
    let mut src = source(&path, false);
    let mut first = Vec::new();
    src.poll_batch(&mut first, 1).expect("poll");
    assert_eq!(ids(&first), ["1"]);
    let saved = src.position().expect("a file has a position");

    write_lines(&path, &[r#"{"id":"4"}"#], true);
    let mut again = source(&path, false);
    again.resume(&saved).expect("same file, grown: resumes");
    assert_eq!(ids(&drain(&mut again, 10)), ["2", "3", "4"]);
    let end = again.position().expect("position");

    let mut at_end = source(&path, false);
    at_end.resume(&end).expect("resume at the end");
    assert!(drain(&mut at_end, 10).is_empty(), "everything was read before");
}

#[test]
fn a_truncated_or_rewritten_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.jsonl");
    write_lines(&path, &[r#"{"id":"1"}"#, r#"{"id":"2"}"#], false);
    let mut src = source(&path, false);
    drain(&mut src, 10);
    let saved = src.position().expect("position");

    write_lines(&path, &[r#"{"id":"1"}"#], false);
    let err = source(&path, false).resume(&saved).expect_err("truncated");
    assert!(err.to_string().contains("it was truncated"), "{err}");
    assert!(err.to_string().contains("--from-start"), "{err}");

    write_lines(&path, &[r#"{"id":"X"}"#, r#"{"id":"2"}"#, r#"{"id":"3"}"#], false);
    let err = source(&path, false).resume(&saved).expect_err("rewritten");
    assert!(err.to_string().contains("changed (it was rewritten)"), "{err}");

    std::fs::remove_file(&path).expect("rm");
    write_lines(&path, &[r#"{"id":"9"}"#, r#"{"id":"8"}"#, r#"{"id":"7"}"#], false);
    let err = source(&path, false).resume(&saved).expect_err("replaced");
    assert!(err.to_string().contains("replaced") || err.to_string().contains("rewritten"), "{err}");

    let generator = SourcePosition::Generator { emitted: 3 };
    let err = source(&path, false).resume(&generator).expect_err("wrong kind");
    assert!(err.to_string().contains("generator position"), "{err}");
}
