//! The tracker.
