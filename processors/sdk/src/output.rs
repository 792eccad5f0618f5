//! What a processor returns: its output events, or an error.

use std::fmt;

use crate::Event;

/// The result of processing one event.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The events one input event became.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Filtered out.
    None,
    /// Mapped to one event.
    One(Event),
    /// Split into any number of events.
    Many(Vec<Event>),
}

impl From<Event> for Output {
    fn from(event: Event) -> Self {
        Output::One(event)
    }
}

impl From<Option<Event>> for Output {
    fn from(event: Option<Event>) -> Self {
        event.map_or(Output::None, Output::One)
    }
}

impl From<Vec<Event>> for Output {
    fn from(events: Vec<Event>) -> Self {
        Output::Many(events)
    }
}

/// Why a processor failed on an event; the host dead-letters the event with
/// this message. Any displayable error converts with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(err: E) -> Self {
        Self(err.to_string())
    }
}
