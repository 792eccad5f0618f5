//! Which source input is finished. Every event carries a [`Ticket`] for the
//! source poll it came from (processors' outputs carry their input's), and a
//! source poll is finished once every ticket for it is gone: each event
//! derived from it was written and flushed by every sink it reached,
//! dead-lettered and flushed, or filtered out. The holders decide when to let
//! go: sinks and the dead-letter writer keep tickets until their flush.
//!
//! A source's finished position is the position after the last poll that is
//! finished together with every poll before it, so a restart from it misses
//! nothing. Events the engine loses (a failed sink, a panic) poison the
//! [`Board`]: nothing is committed after that, and the next run replays from
//! the last good checkpoint.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::SourcePosition;

/// Shared by every source of a run: whether progress can still be committed.
#[derive(Debug, Default)]
pub struct Board {
    poisoned: OnceLock<String>,
}

impl Board {
    /// Stops all further commits, for `reason` (logged once).
    pub fn poison(&self, reason: &str) {
        if self.poisoned.set(reason.to_owned()).is_ok() {
            tracing::error!("events were lost ({reason}): no source position is saved from now on; the next run replays from the last checkpoint");
        }
    }

    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.get().map(String::as_str)
    }
}

/// One source's polls not yet finished, oldest first.
#[derive(Debug)]
pub struct SourceProgress {
    id: Arc<str>,
    /// The source's place among the pipeline's sources (spans name it so).
    index: usize,
    board: Arc<Board>,
    polls: Mutex<Polls>,
}

#[derive(Debug, Default)]
struct Polls {
    /// Sequence number of `open[0]`.
    first: u64,
    open: VecDeque<Poll>,
    /// Position after the last poll finished with all before it.
    finished: Option<SourcePosition>,
    /// Polls finished (with all before them) since the checkpointer last took them.
    newly_finished: Vec<(u64, SourcePosition)>,
}

/// What a source wants done once one of its polls is finished (the `nats`
/// source acknowledges the poll's messages).
pub type FinishAction = Box<dyn FnOnce() + Send>;

struct Poll {
    after: SourcePosition,
    done: bool,
    on_finish: Option<FinishAction>,
}

impl std::fmt::Debug for Poll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poll").field("after", &self.after).field("done", &self.done).finish_non_exhaustive()
    }
}

impl SourceProgress {
    /// `start` is where the source starts (its saved position, or its beginning).
    pub fn new(id: Arc<str>, index: usize, board: Arc<Board>, start: Option<SourcePosition>) -> Arc<Self> {
        let polls = Polls { finished: start, ..Polls::default() };
        Arc::new(Self { id, index, board, polls: Mutex::new(polls) })
    }

    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// Polls finished since the last call, oldest first, with the position after each.
    pub fn take_finished(&self) -> Vec<(u64, SourcePosition)> {
        std::mem::take(&mut self.polls.lock().unwrap_or_else(PoisonError::into_inner).newly_finished)
    }

    /// A ticket for the poll that ended at `after`; the poll is finished when
    /// the last clone of it is dropped.
    pub fn open(self: &Arc<Self>, after: SourcePosition) -> Ticket {
        self.open_with(after, None)
    }

    /// [`SourceProgress::open`], running `on_finish` once this poll is
    /// finished (whether or not the polls before it are).
    pub fn open_with(self: &Arc<Self>, after: SourcePosition, on_finish: Option<FinishAction>) -> Ticket {
        let mut polls = self.polls.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = polls.first + polls.open.len() as u64;
        polls.open.push_back(Poll { after, done: false, on_finish });
        Ticket(Arc::new(Mark::Poll { source: self.clone(), seq }))
    }

    /// The position up to which everything is finished.
    pub fn finished(&self) -> Option<SourcePosition> {
        self.polls.lock().unwrap_or_else(PoisonError::into_inner).finished.clone()
    }

    /// Polls opened and not finished yet (or finished after one that is not).
    pub fn pending(&self) -> usize {
        self.polls.lock().unwrap_or_else(PoisonError::into_inner).open.len()
    }

    fn finish(&self, seq: u64) {
        let mut polls = self.polls.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(index) = seq.checked_sub(polls.first) else { return };
        let mut action = None;
        if let Some(poll) = polls.open.get_mut(index as usize) {
            poll.done = true;
            action = poll.on_finish.take();
        }
        while polls.open.front().is_some_and(|p| p.done) {
            if let Some(poll) = polls.open.pop_front() {
                let seq = polls.first;
                polls.first += 1;
                polls.newly_finished.push((seq, poll.after.clone()));
                polls.finished = Some(poll.after);
            }
        }
        drop(polls);
        if let Some(action) = action {
            action();
        }
    }
}

/// A claim on source input: cloned onto everything derived from it.
#[derive(Debug, Clone)]
pub struct Ticket(Arc<Mark>);

#[derive(Debug)]
enum Mark {
    Poll {
        source: Arc<SourceProgress>,
        seq: u64,
    },
    /// Outputs that cannot be tied to one input (a remote processor's) hold
    /// the whole batch's tickets.
    Group(Vec<Ticket>),
}

impl Drop for Mark {
    fn drop(&mut self) {
        if let Mark::Poll { source, seq } = self {
            // Unwinding drops events that were never delivered: they must not count as finished.
            if std::thread::panicking() {
                source.board.poison("a thread panicked while holding events");
            } else {
                source.finish(*seq);
            }
        }
    }
}

impl Ticket {
    /// Whether both are the same claim (events of one poll share one).
    pub fn same(&self, other: &Ticket) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// One ticket holding all of `tickets` (duplicates collapsed), or the
    /// only one; `None` when there are none.
    pub fn group<'a>(tickets: impl IntoIterator<Item = &'a Ticket>) -> Option<Ticket> {
        let mut distinct: Vec<Ticket> = Vec::new();
        for ticket in tickets {
            if !distinct.iter().any(|t| t.same(ticket)) {
                distinct.push(ticket.clone());
            }
        }
        match distinct.len() {
            0 => None,
            1 => distinct.pop(),
            _ => Some(Ticket(Arc::new(Mark::Group(distinct)))),
        }
    }

    /// Calls `each` with the source index and sequence number of every poll this ticket holds.
    pub fn for_each_poll(&self, each: &mut impl FnMut(usize, u64)) {
        match &*self.0 {
            Mark::Poll { source, seq } => each(source.index, *seq),
            Mark::Group(tickets) => tickets.iter().for_each(|t| t.for_each_poll(each)),
        }
    }

    /// Events under this ticket were lost: stop committing progress.
    pub fn poison(&self, reason: &str) {
        match &*self.0 {
            Mark::Poll { source, .. } => source.board.poison(reason),
            Mark::Group(tickets) => tickets.iter().for_each(|t| t.poison(reason)),
        }
    }
}

/// The distinct tickets of what a writer wrote and has not flushed yet.
#[derive(Debug, Default)]
pub struct Unflushed {
    tickets: Vec<Ticket>,
    since: Option<std::time::Instant>,
}

impl Unflushed {
    /// Keeps the tickets of `tickets` (consecutive repeats cost a pointer compare).
    pub fn hold<'a>(&mut self, tickets: impl IntoIterator<Item = Option<&'a Ticket>>) {
        for ticket in tickets.into_iter().flatten() {
            if !self.tickets.last().is_some_and(|last| last.same(ticket)) {
                self.tickets.push(ticket.clone());
                self.since.get_or_insert_with(std::time::Instant::now);
            }
        }
    }

    /// Whether tickets have waited for a flush longer than `every`.
    pub fn due(&self, every: std::time::Duration) -> bool {
        self.since.is_some_and(|since| since.elapsed() >= every)
    }

    /// The flush succeeded: what it covered is finished.
    pub fn flushed(&mut self) {
        self.tickets.clear();
        self.since = None;
    }

    /// What was written is lost (the write or flush failed).
    pub fn lost(&mut self, reason: &str) {
        if let Some(ticket) = self.tickets.first() {
            ticket.poison(reason);
        }
        self.flushed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(n: u64) -> SourcePosition {
        SourcePosition::Generator { emitted: n }
    }

    #[test]
    fn position_advances_only_over_a_finished_prefix() {
        let progress = SourceProgress::new("s".into(), 0, Arc::default(), None);
        let (a, b, c) = (progress.open(gen(1)), progress.open(gen(2)), progress.open(gen(3)));
        drop(b);
        assert_eq!(progress.finished(), None, "poll 2 finished before poll 1");
        drop(a);
        assert_eq!(progress.finished(), Some(gen(2)));
        let derived = Ticket::group([&c, &c]).expect("one ticket");
        assert!(derived.same(&c), "a group of one ticket is that ticket");
        drop(c);
        assert_eq!(progress.finished(), Some(gen(2)), "an output still holds poll 3");
        drop(derived);
        assert_eq!(progress.finished(), Some(gen(3)));
        assert_eq!(progress.pending(), 0);
    }

    #[test]
    fn a_finish_action_runs_when_its_own_poll_is_finished() {
        let progress = SourceProgress::new("s".into(), 0, Arc::default(), None);
        let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ack = |n: usize| -> Option<FinishAction> {
            let acked = acked.clone();
            Some(Box::new(move || {
                acked.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            }))
        };
        let (a, b) = (progress.open_with(gen(1), ack(1)), progress.open_with(gen(2), ack(10)));
        drop(b);
        assert_eq!(acked.load(std::sync::atomic::Ordering::SeqCst), 10, "out of order: acks need no prefix");
        drop(a);
        assert_eq!(acked.load(std::sync::atomic::Ordering::SeqCst), 11);
    }

    #[test]
    fn a_group_holds_every_poll_it_covers() {
        let progress = SourceProgress::new("s".into(), 0, Arc::default(), Some(gen(0)));
        let (a, b) = (progress.open(gen(1)), progress.open(gen(2)));
        let group = Ticket::group([&a, &b, &a]).expect("group");
        drop((a, b));
        assert_eq!(progress.finished(), Some(gen(0)));
        drop(group);
        assert_eq!(progress.finished(), Some(gen(2)));
    }

    #[test]
    fn unflushed_tickets_finish_at_the_flush_and_a_loss_poisons() {
        let board = Arc::new(Board::default());
        let progress = SourceProgress::new("s".into(), 0, board.clone(), None);
        let ticket = progress.open(gen(5));
        let mut unflushed = Unflushed::default();
        unflushed.hold([Some(&ticket), Some(&ticket), None]);
        drop(ticket);
        assert_eq!(progress.finished(), None, "written, not flushed");
        unflushed.flushed();
        assert_eq!(progress.finished(), Some(gen(5)));
        unflushed.hold([Some(&progress.open(gen(6)))]);
        unflushed.lost("disk full");
        assert_eq!(board.poisoned(), Some("disk full"));
    }
}
