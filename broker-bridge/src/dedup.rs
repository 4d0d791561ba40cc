//! Remembers the ids of recently handled events so a redelivered duplicate is acknowledged without
//! running its handler again.

use std::collections::{HashSet, VecDeque};

/// A bounded set of the most recent event ids: the oldest is forgotten when it is full.
#[derive(Debug)]
pub(crate) struct DedupWindow {
    capacity: usize,
    seen: HashSet<Box<str>>,
    order: VecDeque<Box<str>>,
}

impl DedupWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// Records `id` as handled.
    pub(crate) fn insert(&mut self, id: &str) {
        if self.capacity == 0 || self.seen.contains(id) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        let id: Box<str> = id.into();
        self.seen.insert(id.clone());
        self.order.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::DedupWindow;

    #[test]
    fn forgets_the_oldest_id_when_full() {
        let mut window = DedupWindow::new(2);
        window.insert("a");
        window.insert("b");
        window.insert("b");
        assert!(window.contains("a") && window.contains("b"));
        window.insert("c");
        assert!(!window.contains("a"));
        assert!(window.contains("b") && window.contains("c"));
    }
}
