//! The built-in connectors through the public API, as the engine uses them:
//! `build_source`/`build_sink` from config specs, rejects drained into the
//! dead-letter writer, and a followed file fed by a concurrent writer.

use std::io::Write;
use std::path::Path;

use flowctl::config::{
    DeadLetterSpec, FileSourceConfig, GeneratorConfig, GeneratorProfile, SinkKind, SinkSpec, SourceKind, SourceSpec,
};
use flowctl::connectors::{build_sink, build_source, DeadLetter, DeadLetterWriter, Source};
use flowctl::Event;

fn generator(count: u64, profile: GeneratorProfile) -> SourceSpec {
    SourceSpec {
        id: "gen".into(),
        kind: SourceKind::Generator(GeneratorConfig {
            profile,
            count: Some(count),
            rate: None,
            event_size: 200,
            seed: 5,
        }),
    }
}

fn file_source(path: &Path, follow: bool) -> SourceSpec {
    SourceSpec { id: "input".into(), kind: SourceKind::File(FileSourceConfig { path: path.to_path_buf(), follow }) }
}

/// Drains a finite source; bounded so a source that never ends fails the test.
fn drain(source: &mut dyn Source, max: usize) -> Vec<Event> {
    let mut out = Vec::new();
    for _ in 0..1_000_000 {
        if !source.poll_batch(&mut out, max).expect("poll") {
            return out;
        }
    }
    panic!("source did not end");
}

#[test]
fn generated_events_survive_file_sink_and_file_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    for profile in [GeneratorProfile::Simple, GeneratorProfile::Stellar] {
        std::fs::remove_file(&path).ok();
        let events = drain(build_source(&generator(10_000, profile)).expect("generator").as_mut(), 256);
        assert_eq!(events.len(), 10_000);
        let mut sink = build_sink(&SinkSpec {
            id: "out".into(),
            inputs: vec!["gen".into()],
            kind: SinkKind::File { path: path.clone() },
        })
        .expect("sink");
        for batch in events.chunks(300) {
            sink.write(batch).expect("write");
        }
        sink.flush().expect("flush");
        let mut source = build_source(&file_source(&path, false)).expect("file source");
        let back = drain(source.as_mut(), 512);
        assert!(source.take_rejects().is_empty());
        assert_eq!(back, events, "{profile:?}: what the file sink wrote, the file source reads back unchanged");
    }
}

#[test]
fn malformed_lines_reach_the_dead_letter_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"ok-1\"}\n{\"id\": 5}\nnot json\n{\"id\":\"ok-2\"}\n").expect("write input");
    let dead_path = dir.path().join("dead.jsonl");
    let mut dead = DeadLetterWriter::open(&DeadLetterSpec::File(dead_path.clone())).expect("dead letters");
    let mut source = build_source(&file_source(&input, false)).expect("source");
    let mut events = Vec::new();
    loop {
        let more = source.poll_batch(&mut events, 10).expect("poll");
        let letters: Vec<DeadLetter> = source.take_rejects().into_iter().map(|r| r.into_dead_letter("input")).collect();
        dead.write(&letters).expect("dead-letter");
        if !more {
            break;
        }
    }
    dead.flush().expect("flush");
    assert_eq!(events.iter().map(|e| e.id()).collect::<Vec<_>>(), ["ok-1", "ok-2"]);
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(&dead_path)
        .expect("read dead letters")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each dead letter is one JSON line"))
        .collect();
    assert_eq!(letters.len(), 2, "events in = events out + dead letters");
    assert_eq!(letters[0]["processor"], "input");
    assert_eq!(letters[0]["error_kind"], "malformed_event");
    assert_eq!(letters[0]["event"]["id"], "input:line:2");
    assert_eq!(letters[0]["event"]["data"], "{\"id\": 5}");
    assert_eq!(letters[1]["event"]["data"], "not json");
}

#[test]
fn followed_file_keeps_up_with_a_concurrent_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.jsonl");
    std::fs::write(&path, "").expect("create");
    let mut source = build_source(&file_source(&path, true)).expect("source");
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().append(true).open(writer_path).expect("open");
        for chunk in 0..50 {
            let mut buf = String::new();
            for i in 0..100 {
                buf.push_str(&format!("{{\"id\":\"{}\"}}\n", chunk * 100 + i));
            }
            // Split each chunk mid-line so the reader sees half-written lines.
            let (a, b) = buf.split_at(buf.len() / 2 + 3);
            f.write_all(a.as_bytes()).expect("write");
            f.flush().expect("flush");
            std::thread::sleep(std::time::Duration::from_millis(1));
            f.write_all(b.as_bytes()).expect("write");
            f.flush().expect("flush");
        }
    });
    let mut events = Vec::new();
    for _ in 0..10_000 {
        if events.len() >= 5000 {
            break;
        }
        assert!(source.poll_batch(&mut events, 500).expect("poll"), "a followed file never ends");
        assert!(source.take_rejects().is_empty(), "half-written lines must not be rejected");
    }
    writer.join().expect("writer");
    assert_eq!(events.len(), 5000);
    assert!(events.iter().enumerate().all(|(i, e)| e.id() == i.to_string()), "in order, none lost or repeated");
}
