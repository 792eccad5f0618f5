//! Durable progress: which source input is finished ([`ticket`]), processors'
//! keyed state committed with it ([`keyed`]), where each
//! source got to ([`position`]), the embedded store that keeps it ([`store`]),
//! moving sources back there at start ([`resume`]) and the thread that
//! commits it ([`checkpointer`]). `docs/guarantees.md`
//! states what this guarantees.

pub mod checkpointer;
pub mod keyed;
pub mod position;
pub mod resume;
pub mod store;
pub mod ticket;

pub use checkpointer::Checkpointer;
pub use keyed::{ProcessorState, Span, StatePlan, StateRefusal};
pub use position::SourcePosition;
pub use resume::{resume_sources, untracked, ResumeError, Resumed};
pub use store::{reset, store_path, Saved, StateSize, StateStore, StateWrite, StoreError};
pub use ticket::{Board, FinishAction, SourceProgress, Ticket, Unflushed};
