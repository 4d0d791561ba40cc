//! Remembers the ids of recently handled events so a redelivered duplicate is acknowledged without
//! running its handler again.

use std::collections::{HashSet, VecDeque};

/// A bounded set of the most recent event ids: the oldest is forgotten when it is full.
#[derive(Debug)]
pub(crate) struct DedupWindow {
    capacity: usize,
    seen: HashSet<EventKey>,
    order: VecDeque<EventKey>,
}

/// Event ids are UUIDs when Instadash made them; those are kept as numbers, without allocating.
/// Any other id (from another producer) is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum EventKey {
    Uuid(u128),
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
            Ok(uuid) if canonical => EventKey::Uuid(uuid.as_u128()),
            _ => EventKey::Text(id.into()),
        }
    }
}

impl DedupWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    pub(crate) fn contains(&self, key: &EventKey) -> bool {
        self.seen.contains(key)
    }

    /// Records the event as handled.
    pub(crate) fn insert(&mut self, key: EventKey) {
        if self.capacity == 0 || self.seen.contains(&key) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(key.clone());
        self.order.push_back(key);
    }
}

#[cfg(test)]
mod tests {
    use super::{DedupWindow, EventKey};

    fn has(window: &DedupWindow, id: &str) -> bool {
        window.contains(&EventKey::of(id))
    }

    #[test]
    fn forgets_the_oldest_id_when_full() {
        let mut window = DedupWindow::new(2);
        window.insert(EventKey::of("a"));
        window.insert(EventKey::of("b"));
        window.insert(EventKey::of("b"));
        assert!(has(&window, "a") && has(&window, "b"));
        window.insert(EventKey::of("c"));
        assert!(!has(&window, "a"));
        assert!(has(&window, "b") && has(&window, "c"));
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
