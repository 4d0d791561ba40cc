//! Geofences as the engine judges them: circles by great-circle distance, polygons in a flat plane
//! around their first point (a geofence spans at most a city, where the plane is accurate to
//! centimetres), both answering "how far outside is this point" so that leaving can have a margin.

use instadash_roads::{EARTH_RADIUS_M, haversine_m, is_valid_point};

use crate::config::{CircleFence, PolygonFence};

/// A configured geofence, checked and ready to test points against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Geofence {
    pub id: String,
    pub name: String,
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Circle {
        lat: f64,
        lon: f64,
        radius_m: f64,
    },
    Polygon {
        plane: Plane,
        /// The corners in the plane, metres.
        corners: Vec<[f64; 2]>,
    },
}

impl Geofence {
    /// A circle, or why it cannot be one.
    pub fn circle(fence: &CircleFence) -> Result<Geofence, String> {
        if !is_valid_point(fence.lat, fence.lon) {
            return Err(format!(
                "has a centre that is not on Earth (lat {}, lon {})",
                fence.lat, fence.lon
            ));
        }
        if !(fence.radius_m.is_finite() && fence.radius_m > 0.0) {
            return Err(format!(
                "radius_m must be a positive number of metres, not {}",
                fence.radius_m
            ));
        }
        Ok(Geofence {
            id: fence.id.clone(),
            name: fence.name.clone(),
            shape: Shape::Circle {
                lat: fence.lat,
                lon: fence.lon,
                radius_m: fence.radius_m,
            },
        })
    }

    /// A polygon, or why it cannot be one.
    pub fn polygon(fence: &PolygonFence) -> Result<Geofence, String> {
        let Some(first) = fence.points.first() else {
            return Err("needs at least 3 points".into());
        };
        if fence.points.len() < 3 {
            return Err("needs at least 3 points".into());
        }
        if let Some(bad) = fence.points.iter().find(|p| !is_valid_point(p.lat, p.lon)) {
            return Err(format!(
                "has a point that is not on Earth (lat {}, lon {})",
                bad.lat, bad.lon
            ));
        }
        let plane = Plane::around(first.lat, first.lon);
        let corners: Vec<[f64; 2]> = fence
            .points
            .iter()
            .map(|p| plane.to_xy(p.lat, p.lon))
            .collect();
        // A fence is a city-sized area: anything spanning more than ~1000 km is a typo (or
        // crosses the antimeridian, which the flat plane cannot represent).
        if corners.iter().any(|c| c[0].abs().max(c[1].abs()) > 1.0e6) {
            return Err("spans more than 1000 km; geofences are local areas".into());
        }
        if shoelace_area_m2(&corners) < 1.0 {
            return Err("encloses no area (its points are on one line)".into());
        }
        Ok(Geofence {
            id: fence.id.clone(),
            name: fence.name.clone(),
            shape: Shape::Polygon { plane, corners },
        })
    }

    /// 0 inside (or on the boundary), otherwise the distance to the boundary, metres.
    pub fn distance_outside_m(&self, lat: f64, lon: f64) -> f64 {
        match &self.shape {
            Shape::Circle {
                lat: c_lat,
                lon: c_lon,
                radius_m,
            } => (haversine_m(*c_lat, *c_lon, lat, lon) - radius_m).max(0.0),
            Shape::Polygon { plane, corners } => {
                let p = plane.to_xy(lat, lon);
                if contains(corners, p) {
                    0.0
                } else {
                    boundary_distance_m(corners, p)
                }
            }
        }
    }
}

/// An equirectangular projection around a reference point: metres east (x) and north (y).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plane {
    lat0: f64,
    lon0: f64,
    m_per_deg_lon: f64,
}

const M_PER_DEG_LAT: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

impl Plane {
    fn around(lat0: f64, lon0: f64) -> Plane {
        Plane {
            lat0,
            lon0,
            m_per_deg_lon: M_PER_DEG_LAT * lat0.to_radians().cos(),
        }
    }

    fn to_xy(self, lat: f64, lon: f64) -> [f64; 2] {
        [
            (lon - self.lon0) * self.m_per_deg_lon,
            (lat - self.lat0) * M_PER_DEG_LAT,
        ]
    }
}

/// Even-odd ray casting: works for any simple polygon, convex or not.
fn contains(corners: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let mut j = corners.len() - 1;
    for i in 0..corners.len() {
        let (a, b) = (corners[i], corners[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

fn boundary_distance_m(corners: &[[f64; 2]], p: [f64; 2]) -> f64 {
    let mut best = f64::INFINITY;
    let mut j = corners.len() - 1;
    for i in 0..corners.len() {
        best = best.min(segment_distance(p, corners[j], corners[i]));
        j = i;
    }
    best
}

fn segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (abx, aby) = (b[0] - a[0], b[1] - a[1]);
    let (apx, apy) = (p[0] - a[0], p[1] - a[1]);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 {
        ((apx * abx + apy * aby) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (apx - t * abx).hypot(apy - t * aby)
}

fn shoelace_area_m2(corners: &[[f64; 2]]) -> f64 {
    let mut twice = 0.0;
    let mut j = corners.len() - 1;
    for i in 0..corners.len() {
        twice += corners[j][0] * corners[i][1] - corners[i][0] * corners[j][1];
        j = i;
    }
    (twice / 2.0).abs()
}

#[cfg(test)]
mod tests {
    use instadash_roads::offset;

    use super::*;
    use crate::config::LatLon;

    fn square() -> Geofence {
        // About 1.1 km x 0.74 km, with a notch cut into its east side (not convex).
        let points = [
            (48.130, 11.560),
            (48.130, 11.575),
            (48.135, 11.575),
            (48.135, 11.570),
            (48.137, 11.570),
            (48.137, 11.575),
            (48.140, 11.575),
            (48.140, 11.560),
        ];
        Geofence::polygon(&PolygonFence {
            id: "p".into(),
            name: "P".into(),
            points: points
                .iter()
                .map(|&(lat, lon)| LatLon { lat, lon })
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn circles_measure_from_their_rim() {
        let fence = Geofence::circle(&CircleFence {
            id: "c".into(),
            name: "C".into(),
            lat: 48.137,
            lon: 11.576,
            radius_m: 100.0,
        })
        .unwrap();
        assert_eq!(fence.distance_outside_m(48.137, 11.576), 0.0);
        let (lat, lon) = offset(48.137, 11.576, 33.0, 99.0);
        assert_eq!(fence.distance_outside_m(lat, lon), 0.0);
        let (lat, lon) = offset(48.137, 11.576, 250.0, 130.0);
        assert!((fence.distance_outside_m(lat, lon) - 30.0).abs() < 0.01);
    }

    #[test]
    fn polygons_know_inside_outside_and_their_notches() {
        let fence = square();
        assert_eq!(fence.distance_outside_m(48.132, 11.565), 0.0, "inside");
        assert_eq!(
            fence.distance_outside_m(48.138, 11.574),
            0.0,
            "inside, north of the notch"
        );
        // In the notch, 0.001° of longitude (about 74 m) east of its inner edge.
        let in_notch = fence.distance_outside_m(48.136, 11.571);
        assert!((in_notch - 74.4).abs() < 1.0, "{in_notch}");
        // 0.001° of latitude (about 111 m) north of the northern edge.
        let north = fence.distance_outside_m(48.141, 11.565);
        assert!((north - 111.2).abs() < 0.5, "{north}");
    }

    #[test]
    fn degenerate_polygons_are_refused() {
        let line = PolygonFence {
            id: "l".into(),
            name: "L".into(),
            points: vec![
                LatLon {
                    lat: 48.1,
                    lon: 11.5,
                },
                LatLon {
                    lat: 48.2,
                    lon: 11.5,
                },
                LatLon {
                    lat: 48.3,
                    lon: 11.5,
                },
            ],
        };
        assert!(Geofence::polygon(&line).unwrap_err().contains("no area"));
    }
}
