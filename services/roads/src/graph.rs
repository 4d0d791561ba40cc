//! The graph: nodes, directed edges, their validation and the derived tables the queries use.

use serde::{Deserialize, Serialize};

use crate::geo::{self, LocalPlane};
use crate::spatial::SpatialIndex;

/// Index of a node in [`RoadNetwork::nodes`].
pub type NodeId = u32;
/// Index of an edge in [`RoadNetwork::edges`].
pub type EdgeId = u32;

/// A junction (or the end of a street).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub lat: f64,
    pub lon: f64,
}

/// One direction of a street between two junctions. A two-way street is two edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub id: EdgeId,
    pub from: NodeId,
    pub to: NodeId,
    /// Along the road, metres; never shorter than the straight line between its ends.
    pub length_m: f64,
    pub speed_limit_kmh: f64,
    pub class: RoadClass,
    /// The street's name, shared by every edge of the street.
    pub name: String,
}

/// What kind of road an edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoadClass {
    Residential,
    Arterial,
    Expressway,
}

impl RoadClass {
    pub const fn as_str(self) -> &'static str {
        match self {
            RoadClass::Residential => "residential",
            RoadClass::Arterial => "arterial",
            RoadClass::Expressway => "expressway",
        }
    }
}

impl std::fmt::Display for RoadClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rectangle, in degrees, that holds every node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

impl Bounds {
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.min_lat..=self.max_lat).contains(&lat) && (self.min_lon..=self.max_lon).contains(&lon)
    }

    pub fn center(&self) -> (f64, f64) {
        (
            (self.min_lat + self.max_lat) / 2.0,
            (self.min_lon + self.max_lon) / 2.0,
        )
    }
}

/// Why a road network was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoadError {
    #[error("the road network is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the road network has no nodes")]
    NoNodes,
    #[error("node #{index} has id {id}: node ids must be 0, 1, 2, ... in file order")]
    NodeIdOutOfOrder { index: usize, id: NodeId },
    #[error("node {id} has an impossible position (lat {lat}, lon {lon})")]
    BadPosition { id: NodeId, lat: f64, lon: f64 },
    #[error("edge #{index} has id {id}: edge ids must be 0, 1, 2, ... in file order")]
    EdgeIdOutOfOrder { index: usize, id: EdgeId },
    #[error("edge {edge} refers to node {node}, which does not exist")]
    UnknownNode { edge: EdgeId, node: NodeId },
    #[error("edge {edge} starts and ends at node {node}")]
    SelfLoop { edge: EdgeId, node: NodeId },
    #[error(
        "edge {edge} has length_m {length_m}, but its ends are {straight_m:.2} m apart: a length must be a positive number of metres, at least the straight-line distance"
    )]
    BadLength {
        edge: EdgeId,
        length_m: f64,
        straight_m: f64,
    },
    #[error("edge {edge} has speed_limit_kmh {speed}: it must be a positive number of km/h")]
    BadSpeed { edge: EdgeId, speed: f64 },
}

/// Rounding in the data file may make an edge a little shorter than the straight line.
const LENGTH_TOLERANCE_M: f64 = 0.5;

#[derive(Deserialize)]
struct NetworkFile {
    #[serde(default)]
    name: String,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// A road graph with what it takes to route on it and to find the road under a point.
pub struct RoadNetwork {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    /// Out-edges of node `n` are `out_edges[out_start[n]..out_start[n + 1]]`.
    out_start: Vec<u32>,
    out_edges: Vec<EdgeId>,
    pub(crate) bounds: Bounds,
    /// Node positions in the local plane.
    pub(crate) xy: Vec<[f64; 2]>,
    pub(crate) plane: LocalPlane,
    /// Time to drive each edge at its limit, seconds.
    pub(crate) travel_time_s: Vec<f64>,
    pub(crate) bearing_deg: Vec<f64>,
    /// Seconds per metre of straight-line distance that no route can beat: the A* heuristic.
    pub(crate) min_s_per_m: f64,
    pub(crate) index: SpatialIndex,
}

impl std::fmt::Debug for RoadNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoadNetwork")
            .field("name", &self.name)
            .field("nodes", &self.nodes.len())
            .field("edges", &self.edges.len())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl RoadNetwork {
    /// Parses and checks a network: `{"name": .., "nodes": [{id, lat, lon}], "edges": [{id,
    /// from, to, length_m, speed_limit_kmh, class, name}]}`, ids numbered from 0 in file order.
    pub fn from_json(json: &str) -> Result<RoadNetwork, RoadError> {
        let file: NetworkFile = serde_json::from_str(json)?;
        Self::new(file.name, file.nodes, file.edges)
    }

    /// Builds a network from nodes and edges, with the same checks as [`RoadNetwork::from_json`].
    pub fn new(name: String, nodes: Vec<Node>, edges: Vec<Edge>) -> Result<RoadNetwork, RoadError> {
        let Some(first) = nodes.first() else {
            return Err(RoadError::NoNodes);
        };
        let mut bounds = Bounds {
            min_lat: first.lat,
            min_lon: first.lon,
            max_lat: first.lat,
            max_lon: first.lon,
        };
        for (index, node) in nodes.iter().enumerate() {
            if node.id as usize != index {
                return Err(RoadError::NodeIdOutOfOrder { index, id: node.id });
            }
            let valid = node.lat.is_finite()
                && node.lon.is_finite()
                && node.lat.abs() < 85.0
                && node.lon.abs() <= 180.0;
            if !valid {
                return Err(RoadError::BadPosition {
                    id: node.id,
                    lat: node.lat,
                    lon: node.lon,
                });
            }
            bounds.min_lat = bounds.min_lat.min(node.lat);
            bounds.min_lon = bounds.min_lon.min(node.lon);
            bounds.max_lat = bounds.max_lat.max(node.lat);
            bounds.max_lon = bounds.max_lon.max(node.lon);
        }
        let (center_lat, center_lon) = bounds.center();
        let plane = LocalPlane::new(center_lat, center_lon);
        let xy: Vec<[f64; 2]> = nodes.iter().map(|n| plane.to_xy(n.lat, n.lon)).collect();

        let mut max_speed_ms = 0.0_f64;
        // The straight-line distance in the plane that each edge's length covers at worst: with
        // it the A* heuristic never overestimates, even where the plane is slightly off.
        let mut min_length_per_flat_m = 1.0_f64;
        for (index, edge) in edges.iter().enumerate() {
            if edge.id as usize != index {
                return Err(RoadError::EdgeIdOutOfOrder { index, id: edge.id });
            }
            for node in [edge.from, edge.to] {
                if node as usize >= nodes.len() {
                    return Err(RoadError::UnknownNode {
                        edge: edge.id,
                        node,
                    });
                }
            }
            if edge.from == edge.to {
                return Err(RoadError::SelfLoop {
                    edge: edge.id,
                    node: edge.from,
                });
            }
            let (a, b) = (&nodes[edge.from as usize], &nodes[edge.to as usize]);
            let straight_m = geo::haversine_m(a.lat, a.lon, b.lat, b.lon);
            if !(edge.length_m.is_finite()
                && edge.length_m > 0.0
                && edge.length_m >= straight_m - LENGTH_TOLERANCE_M)
            {
                return Err(RoadError::BadLength {
                    edge: edge.id,
                    length_m: edge.length_m,
                    straight_m,
                });
            }
            if !(edge.speed_limit_kmh.is_finite() && edge.speed_limit_kmh > 0.0) {
                return Err(RoadError::BadSpeed {
                    edge: edge.id,
                    speed: edge.speed_limit_kmh,
                });
            }
            max_speed_ms = max_speed_ms.max(edge.speed_limit_kmh / 3.6);
            let flat = geo::plane_distance(xy[edge.from as usize], xy[edge.to as usize]);
            if flat > 0.0 {
                min_length_per_flat_m = min_length_per_flat_m.min(edge.length_m / flat);
            }
        }

        let mut out_start = vec![0_u32; nodes.len() + 1];
        for edge in &edges {
            out_start[edge.from as usize + 1] += 1;
        }
        for n in 0..nodes.len() {
            out_start[n + 1] += out_start[n];
        }
        let mut fill = out_start.clone();
        let mut out_edges = vec![0; edges.len()];
        for edge in &edges {
            let slot = &mut fill[edge.from as usize];
            out_edges[*slot as usize] = edge.id;
            *slot += 1;
        }

        let travel_time_s = edges
            .iter()
            .map(|e| e.length_m / (e.speed_limit_kmh / 3.6))
            .collect();
        let bearing_deg = edges
            .iter()
            .map(|e| {
                let (a, b) = (&nodes[e.from as usize], &nodes[e.to as usize]);
                geo::bearing_deg(a.lat, a.lon, b.lat, b.lon)
            })
            .collect();
        let min_s_per_m = if max_speed_ms > 0.0 {
            min_length_per_flat_m / max_speed_ms
        } else {
            0.0
        };
        let index = SpatialIndex::build(&xy, &edges);
        Ok(RoadNetwork {
            name,
            nodes,
            edges,
            out_start,
            out_edges,
            bounds,
            xy,
            plane,
            travel_time_s,
            bearing_deg,
            min_s_per_m,
            index,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// # Panics
    /// If `id` is not a node of this network (see [`RoadNetwork::contains_node`]).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// # Panics
    /// If `id` is not an edge of this network.
    pub fn edge(&self, id: EdgeId) -> &Edge {
        &self.edges[id as usize]
    }

    pub fn contains_node(&self, id: NodeId) -> bool {
        (id as usize) < self.nodes.len()
    }

    /// The edges leaving `node`; empty for a node that does not exist.
    pub fn out_edges(&self, node: NodeId) -> &[EdgeId] {
        let n = node as usize;
        if n >= self.nodes.len() {
            return &[];
        }
        &self.out_edges[self.out_start[n] as usize..self.out_start[n + 1] as usize]
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Seconds to drive `edge` at its speed limit.
    pub fn travel_time_s(&self, edge: EdgeId) -> f64 {
        self.travel_time_s[edge as usize]
    }

    /// The direction of travel along `edge`, degrees clockwise from north, [0, 360).
    pub fn edge_bearing_deg(&self, edge: EdgeId) -> f64 {
        self.bearing_deg[edge as usize]
    }

    /// The point `offset_m` along `edge` from its start (clamped to the edge). Interpolated in
    /// degrees, so it lies exactly on the edge as [`RoadNetwork::nearest_edge`] sees it.
    pub fn point_on_edge(&self, edge: EdgeId, offset_m: f64) -> (f64, f64) {
        let e = &self.edges[edge as usize];
        let (a, b) = (&self.nodes[e.from as usize], &self.nodes[e.to as usize]);
        let t = (offset_m / e.length_m).clamp(0.0, 1.0);
        (a.lat + (b.lat - a.lat) * t, a.lon + (b.lon - a.lon) * t)
    }

    /// Distance from a point to `edge`, metres.
    pub fn distance_to_edge_m(&self, edge: EdgeId, lat: f64, lon: f64) -> f64 {
        let e = &self.edges[edge as usize];
        geo::point_segment_distance(
            self.plane.to_xy(lat, lon),
            self.xy[e.from as usize],
            self.xy[e.to as usize],
        )
    }
}
