//! The road network the fleet drives on: a made-up city shipped as data (`data/city.json`, made
//! by `data/generate.py`), fastest routes between junctions and the road under a GPS fix.
//!
//! The city is about 6 km x 6 km around lat 48.137, lon 11.576: a jittered grid of residential
//! streets (30 km/h) with arterials every few lines (50-60 km/h), a diagonal boulevard, and a ring
//! expressway (70-80 km/h) with ramps. Edges are directed; a two-way street is two edges.

use std::sync::{Arc, OnceLock};

mod geo;
mod graph;
mod path;
mod spatial;

pub use geo::{EARTH_RADIUS_M, bearing_deg, haversine_m, is_valid_point, normalize_deg, offset};
pub use graph::{Bounds, Edge, EdgeId, Node, NodeId, RoadClass, RoadError, RoadNetwork};

/// The embedded city, as shipped.
pub const CITY_JSON: &str = include_str!("../data/city.json");

impl RoadNetwork {
    /// The embedded city, parsed on first use and shared after that.
    ///
    /// # Panics
    /// Only if the shipped data file is broken, which the crate's tests rule out.
    pub fn city() -> Arc<RoadNetwork> {
        static CITY: OnceLock<Arc<RoadNetwork>> = OnceLock::new();
        CITY.get_or_init(|| {
            Arc::new(RoadNetwork::from_json(CITY_JSON).expect("the embedded city.json is valid"))
        })
        .clone()
    }
}

#[cfg(test)]
mod tests;
