//! The road under a point: a uniform grid of cells over the network's plane, each listing the
//! edges whose bounding box touches it. A query scans rings of cells around the point and stops
//! as soon as no farther cell can hold anything closer, so it looks at a handful of edges instead
//! of all of them (alerts ask this for every GPS fix).

use crate::geo::point_segment_distance;
use crate::graph::{Edge, EdgeId, RoadNetwork};

/// About half a block: a few edges per cell.
const CELL_M: f64 = 100.0;

pub(crate) struct SpatialIndex {
    origin: [f64; 2],
    columns: usize,
    rows: usize,
    /// Edges of cell `c` are `items[start[c]..start[c + 1]]`.
    start: Vec<u32>,
    items: Vec<EdgeId>,
}

impl SpatialIndex {
    pub(crate) fn build(xy: &[[f64; 2]], edges: &[Edge]) -> Self {
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in xy {
            for axis in 0..2 {
                min[axis] = min[axis].min(p[axis]);
                max[axis] = max[axis].max(p[axis]);
            }
        }
        let cells = |span: f64| ((span / CELL_M).floor() as usize + 1).max(1);
        let mut index = SpatialIndex {
            origin: min,
            columns: cells(max[0] - min[0]),
            rows: cells(max[1] - min[1]),
            start: Vec::new(),
            items: Vec::new(),
        };
        let cell_count = index.columns * index.rows;
        // Two passes (count, then fill) give one flat array instead of a Vec per cell.
        let mut counts = vec![0_u32; cell_count + 1];
        for edge in edges {
            index.for_each_cell_of(xy, edge, |c| counts[c + 1] += 1);
        }
        for c in 0..cell_count {
            counts[c + 1] += counts[c];
        }
        let mut fill = counts.clone();
        let mut items = vec![0; counts[cell_count] as usize];
        for edge in edges {
            index.for_each_cell_of(xy, edge, |c| {
                items[fill[c] as usize] = edge.id;
                fill[c] += 1;
            });
        }
        index.start = counts;
        index.items = items;
        index
    }

    fn cell_of(&self, p: [f64; 2]) -> (usize, usize) {
        let clamp =
            |v: f64, cells: usize| (v / CELL_M).floor().clamp(0.0, (cells - 1) as f64) as usize;
        (
            clamp(p[0] - self.origin[0], self.columns),
            clamp(p[1] - self.origin[1], self.rows),
        )
    }

    fn for_each_cell_of(&self, xy: &[[f64; 2]], edge: &Edge, mut f: impl FnMut(usize)) {
        let (a, b) = (xy[edge.from as usize], xy[edge.to as usize]);
        let (c0, r0) = self.cell_of([a[0].min(b[0]), a[1].min(b[1])]);
        let (c1, r1) = self.cell_of([a[0].max(b[0]), a[1].max(b[1])]);
        for r in r0..=r1 {
            for c in c0..=c1 {
                f(r * self.columns + c);
            }
        }
    }

    fn cell_items(&self, column: usize, row: usize) -> &[EdgeId] {
        let c = row * self.columns + column;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }
}

impl RoadNetwork {
    /// The edge nearest a point and the distance to it in metres; `None` for a network without
    /// edges or a point that is not a number. Of edges at the same distance (the two directions
    /// of a street) the lower id wins.
    pub fn nearest_edge(&self, lat: f64, lon: f64) -> Option<(EdgeId, f64)> {
        if self.edges.is_empty() || !lat.is_finite() || !lon.is_finite() {
            return None;
        }
        let index = &self.index;
        let p = self.plane.to_xy(lat, lon);
        let (pc, pr) = index.cell_of(p);
        let mut best: Option<(EdgeId, f64)> = None;
        let scan = |column: usize, row: usize, best: &mut Option<(EdgeId, f64)>| {
            for &edge in index.cell_items(column, row) {
                let e = &self.edges[edge as usize];
                let d = point_segment_distance(p, self.xy[e.from as usize], self.xy[e.to as usize]);
                let better = match *best {
                    None => true,
                    Some((best_edge, best_d)) => d < best_d || (d == best_d && edge < best_edge),
                };
                if better {
                    *best = Some((edge, d));
                }
            }
        };
        let widest = index.columns.max(index.rows);
        for ring in 0..=widest {
            // The cells at Chebyshev distance `ring` from the point's cell, within the grid.
            let (c0, c1) = (pc.saturating_sub(ring), (pc + ring).min(index.columns - 1));
            let (r0, r1) = (pr.saturating_sub(ring), (pr + ring).min(index.rows - 1));
            for r in r0..=r1 {
                if r + ring == pr || r == pr + ring {
                    (c0..=c1).for_each(|c| scan(c, r, &mut best));
                } else {
                    // A middle row of the ring: only its two ends.
                    if ring <= pc {
                        scan(pc - ring, r, &mut best);
                    }
                    if ring > 0 && pc + ring < index.columns {
                        scan(pc + ring, r, &mut best);
                    }
                }
            }
            // Anything not seen yet touches only cells of the next rings: at least `ring`
            // cells away from the point.
            if best.is_some_and(|(_, d)| d <= ring as f64 * CELL_M) {
                break;
            }
        }
        best
    }
}

/// The plain scan [`RoadNetwork::nearest_edge`] must agree with (tests only).
#[cfg(test)]
pub(crate) fn nearest_edge_by_scan(
    network: &RoadNetwork,
    lat: f64,
    lon: f64,
) -> Option<(EdgeId, f64)> {
    let p = network.plane.to_xy(lat, lon);
    network
        .edges
        .iter()
        .map(|e| {
            let d =
                point_segment_distance(p, network.xy[e.from as usize], network.xy[e.to as usize]);
            (e.id, d)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
}
