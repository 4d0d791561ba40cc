//! The road network.
