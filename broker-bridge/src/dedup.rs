//! Remembers the ids of recently handled events so a redelivered duplicate is acknowledged without
//! running its handler again.

use std::collections::HashSet;

/// The ids of the most recent events, in two generations: ids go into the current one until it
/// holds `capacity`, then it becomes the previous one and the one before is forgotten. So the last
/// `capacity` ids are always remembered (and at most twice as many).
///
/// Why generations rather than evicting the oldest id one by one: a hash set at its capacity with
/// one removal per insert fills with tombstones until it doubles its table, a step in memory long
/// after the window is full. Clearing a whole generation leaves no tombstones and keeps its
/// allocation for reuse, so memory stops growing once both generations have filled.
#[derive(Debug)]
pub(crate) struct DedupWindow {
    capacity: usize,
    current: HashSet<EventKey>,
    previous: HashSet<EventKey>,
}

/// Event ids are UUIDs when Instadash made them; those are kept as numbers, without allocating.
/// Any other id (from another producer) is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum EventKey {
    /// The UUID's two halves: `u64`s rather than one `u128` keep a key at 24 bytes, not 32.
    Uuid(u64, u64),
    Text(Box<str>),
}

impl EventKey {
    pub(crate) fn of(id: &str) -> Self {
        // Only the canonical lowercase hyphenated form maps to a number, so two different
        // spellings of one UUID stay two different ids.
        let canonical = id.len() == 36
            && id
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match uuid::Uuid::try_parse(id) {
            Ok(uuid) if canonical => {
                let (high, low) = uuid.as_u64_pair();
                EventKey::Uuid(high, low)
            }
            _ => EventKey::Text(id.into()),
        }
    }
}

impl DedupWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            current: HashSet::new(),
            previous: HashSet::new(),
        }
    }

    pub(crate) fn contains(&self, key: &EventKey) -> bool {
        self.current.contains(key) || self.previous.contains(key)
    }

    /// Records the event as handled.
    pub(crate) fn insert(&mut self, key: EventKey) {
        if self.capacity == 0 || self.contains(&key) {
            return;
        }
        if self.current.len() >= self.capacity {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        self.current.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::{DedupWindow, EventKey};

    fn has(window: &DedupWindow, id: &str) -> bool {
        window.contains(&EventKey::of(id))
    }

    #[test]
    fn remembers_the_last_capacity_ids_and_forgets_older_ones() {
        let mut window = DedupWindow::new(2);
        for id in ["a", "b", "b", "c", "d"] {
            window.insert(EventKey::of(id));
        }
        // Whatever the generations, the last two ids are always there.
        assert!(has(&window, "c") && has(&window, "d"));
        for id in ["e", "f", "g"] {
            window.insert(EventKey::of(id));
        }
        assert!(has(&window, "f") && has(&window, "g"));
        assert!(!has(&window, "a") && !has(&window, "b") && !has(&window, "c"));
    }

    #[test]
    fn a_full_window_keeps_its_memory_steady() {
        let mut window = DedupWindow::new(1000);
        for n in 0..2000 {
            window.insert(EventKey::of(&format!("warm-{n}")));
        }
        let allocated = window.current.capacity() + window.previous.capacity();
        for n in 0..100_000 {
            window.insert(EventKey::of(&format!("later-{n}")));
            assert!(has(&window, &format!("later-{n}")));
        }
        assert_eq!(
            window.current.capacity() + window.previous.capacity(),
            allocated
        );
    }

    #[test]
    fn uuid_ids_and_other_ids_are_told_apart_exactly() {
        let mut window = DedupWindow::new(10);
        let id = "01a20097-3592-7016-b441-071057a7280a";
        window.insert(EventKey::of(id));
        assert!(has(&window, id));
        // The same UUID written differently is a different event id.
        assert!(!has(&window, "01A20097-3592-7016-B441-071057A7280A"));
        assert!(!has(&window, "01a200973592701 6b441071057a7280a"));
        window.insert(EventKey::of("order-42"));
        assert!(has(&window, "order-42"));
    }
}
