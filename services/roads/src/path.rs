//! Fastest routes: A* over travel time at the speed limit.
//!
//! The heuristic is the straight-line distance in the network's plane times the fewest seconds
//! per metre any edge allows (computed when the network is built), so it never overestimates and
//! is consistent: the first time the target leaves the queue its route is the fastest one.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::geo;
use crate::graph::{EdgeId, NodeId, RoadNetwork};

/// No edge reached this node yet.
const NONE: EdgeId = EdgeId::MAX;

impl RoadNetwork {
    /// The fastest route from `from` to `to` by travel time at the limits, as the edges to drive
    /// in order; empty if `from == to`; `None` if either node does not exist or `to` cannot be
    /// reached.
    pub fn shortest_path(&self, from: NodeId, to: NodeId) -> Option<Vec<EdgeId>> {
        if !self.contains_node(from) || !self.contains_node(to) {
            return None;
        }
        if from == to {
            return Some(Vec::new());
        }
        let n = self.nodes.len();
        let target = self.xy[to as usize];
        let heuristic =
            |node: NodeId| geo::plane_distance(self.xy[node as usize], target) * self.min_s_per_m;
        let mut best_s = vec![f64::INFINITY; n];
        let mut via = vec![NONE; n];
        let mut queue = BinaryHeap::with_capacity(64);
        best_s[from as usize] = 0.0;
        queue.push(Open {
            estimate_s: heuristic(from),
            so_far_s: 0.0,
            node: from,
        });
        while let Some(Open { so_far_s, node, .. }) = queue.pop() {
            if node == to {
                return Some(self.walk_back(&via, from, to));
            }
            if so_far_s > best_s[node as usize] {
                continue; // A stale entry: the node was reached faster since.
            }
            for &edge in self.out_edges(node) {
                let next = self.edges[edge as usize].to;
                let time_s = so_far_s + self.travel_time_s[edge as usize];
                if time_s < best_s[next as usize] {
                    best_s[next as usize] = time_s;
                    via[next as usize] = edge;
                    queue.push(Open {
                        estimate_s: time_s + heuristic(next),
                        so_far_s: time_s,
                        node: next,
                    });
                }
            }
        }
        None
    }

    /// Seconds to drive `route` at the limits.
    pub fn route_time_s(&self, route: &[EdgeId]) -> f64 {
        route.iter().map(|&e| self.travel_time_s(e)).sum()
    }

    /// Metres along `route`.
    pub fn route_length_m(&self, route: &[EdgeId]) -> f64 {
        route.iter().map(|&e| self.edge(e).length_m).sum()
    }

    fn walk_back(&self, via: &[EdgeId], from: NodeId, to: NodeId) -> Vec<EdgeId> {
        let mut route = Vec::new();
        let mut node = to;
        while node != from {
            let edge = via[node as usize];
            route.push(edge);
            node = self.edges[edge as usize].from;
        }
        route.reverse();
        route
    }
}

/// A queue entry, ordered so that the smallest estimate pops first from the max-heap.
struct Open {
    estimate_s: f64,
    so_far_s: f64,
    node: NodeId,
}

impl PartialEq for Open {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Open {}

impl PartialOrd for Open {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Open {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .estimate_s
            .total_cmp(&self.estimate_s)
            .then_with(|| other.node.cmp(&self.node))
    }
}
