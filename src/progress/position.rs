//! Where a source got to: what a restart resumes from. Each source kind that
//! can resume has its own variant, saved as JSON in the state store.

use serde::{Deserialize, Serialize};

/// A source's position after some prefix of its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourcePosition {
    /// A JSONL file: `offset` bytes (`line` lines) read, in the file with
    /// this device and inode whose first `head_len` bytes hash to `head_sha256`.
    File { device: u64, inode: u64, head_len: u64, head_sha256: String, offset: u64, line: u64 },
    /// The generator: this many events emitted.
    Generator { emitted: u64 },
    /// A `type: grpc` source: the `SaveState` map of the last event delivered
    /// (what the remote source resumes after).
    Grpc { state: std::collections::BTreeMap<String, String> },
    /// A `nats` source: nothing to resume from here; the JetStream durable
    /// consumer remembers what was acknowledged.
    Nats { stream: String, durable: String },
}

impl SourcePosition {
    /// The variant's name, as saved (`file`, `generator`, `grpc`).
    pub fn kind(&self) -> &'static str {
        match self {
            SourcePosition::File { .. } => "file",
            SourcePosition::Generator { .. } => "generator",
            SourcePosition::Grpc { .. } => "grpc",
            SourcePosition::Nats { .. } => "nats",
        }
    }
}

impl std::fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourcePosition::File { offset, line, .. } => write!(f, "byte {offset} (after line {line})"),
            SourcePosition::Generator { emitted } => write!(f, "{emitted} events emitted"),
            SourcePosition::Grpc { state } => match state.get(crate::grpc::resume::LAST_EVENT_ID) {
                Some(id) => write!(f, "after event {id}"),
                None => write!(f, "{} saved state keys", state.len()),
            },
            SourcePosition::Nats { stream, durable } => write!(f, "acknowledged in JetStream ({stream}/{durable})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_as_tagged_json() {
        let file =
            SourcePosition::File { device: 1, inode: 2, head_len: 3, head_sha256: "ab".into(), offset: 40, line: 2 };
        let json = serde_json::to_string(&file).expect("serialize");
        assert!(json.starts_with(r#"{"kind":"file""#), "{json}");
        assert_eq!(serde_json::from_str::<SourcePosition>(&json).expect("parse"), file);
        let unknown = r#"{"kind":"generator","emitted":1,"extra":2}"#;
        assert!(serde_json::from_str::<SourcePosition>(unknown).is_err(), "unknown keys are refused");
    }
}
