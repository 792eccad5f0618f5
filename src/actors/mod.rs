//! The engine: actors exchanging events over bounded mailboxes.
