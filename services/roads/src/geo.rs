//! Geodesy on a sphere, plus the local flat plane the network uses for its own geometry.
//!
//! A city is small enough (a few km) that a tangent plane at its centre is accurate to a few
//! centimetres, so edges are straight segments in that plane: a point interpolated linearly in
//! latitude and longitude lies exactly on its edge, and point-to-segment distances are cheap.

/// Mean Earth radius (IUGG), metres. The generator of the embedded city uses the same value.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Whether `lat`/`lon` (WGS 84 degrees) name a place on Earth: finite, latitude within ±90 and
/// longitude within ±180. Anything else would poison a distance with NaN.
pub fn is_valid_point(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
}

/// Great-circle distance between two points, metres (haversine on a sphere: its error, under
/// 0.5 %, is far below GPS noise). Haversine rather than the spherical law of cosines because it
/// stays accurate for the short hops between 1 Hz fixes; the intermediate is clamped so rounding
/// never gives NaN, even for antipodal points.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = phi2 - phi1;
    let dlambda = (lon2 - lon1).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

/// Initial bearing from the first point towards the second, degrees clockwise from true north,
/// in [0, 360). Zero when the points coincide.
pub fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dlambda = (lon2 - lon1).to_radians();
    let y = dlambda.sin() * phi2.cos();
    let x = phi1.cos() * phi2.sin() - phi1.sin() * phi2.cos() * dlambda.cos();
    normalize_deg(y.atan2(x).to_degrees())
}

/// The point `distance_m` away from (`lat`, `lon`) along the great circle with initial bearing
/// `bearing_deg`. Returns (lat, lon) with the longitude in [-180, 180).
pub fn offset(lat: f64, lon: f64, bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let delta = distance_m / EARTH_RADIUS_M;
    let theta = bearing_deg.to_radians();
    let phi1 = lat.to_radians();
    let lambda1 = lon.to_radians();
    let phi2 = (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * theta.cos()).asin();
    let lambda2 = lambda1
        + (theta.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * phi2.sin());
    let lon2 = (lambda2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
    (phi2.to_degrees(), lon2)
}

/// An angle in degrees brought into [0, 360).
pub fn normalize_deg(deg: f64) -> f64 {
    let d = deg.rem_euclid(360.0);
    // rem_euclid can round up to exactly 360.0 for tiny negative inputs.
    if d >= 360.0 { 0.0 } else { d }
}

/// An equirectangular projection around a reference point: metres east (x) and north (y).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LocalPlane {
    lat0: f64,
    lon0: f64,
    m_per_deg_lat: f64,
    m_per_deg_lon: f64,
}

impl LocalPlane {
    pub(crate) fn new(lat0: f64, lon0: f64) -> Self {
        let m_per_deg_lat = EARTH_RADIUS_M.to_radians();
        Self {
            lat0,
            lon0,
            m_per_deg_lat,
            m_per_deg_lon: m_per_deg_lat * lat0.to_radians().cos(),
        }
    }

    pub(crate) fn to_xy(self, lat: f64, lon: f64) -> [f64; 2] {
        [
            (lon - self.lon0) * self.m_per_deg_lon,
            (lat - self.lat0) * self.m_per_deg_lat,
        ]
    }
}

/// Distance from `p` to the segment `a`-`b` in the plane.
pub(crate) fn point_segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (abx, aby) = (b[0] - a[0], b[1] - a[1]);
    let (apx, apy) = (p[0] - a[0], p[1] - a[1]);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 {
        ((apx * abx + apy * aby) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (dx, dy) = (apx - t * abx, apy - t * aby);
    (dx * dx + dy * dy).sqrt()
}

/// Distance between two points of the plane.
pub(crate) fn plane_distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    (b[0] - a[0]).hypot(b[1] - a[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One degree of arc on the sphere.
    const DEGREE_M: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

    #[test]
    fn haversine_is_symmetric_and_finite_for_antipodes() {
        let a = haversine_m(40.0, -3.7, -40.0, 176.3);
        assert_eq!(a, haversine_m(-40.0, 176.3, 40.0, -3.7));
        assert!((a - 180.0 * DEGREE_M).abs() < 1.0, "{a}");
        assert!(haversine_m(90.0, 0.0, -90.0, 0.0).is_finite());
        // Across the antimeridian the short way round.
        assert!((haversine_m(0.0, 179.5, 0.0, -179.5) - DEGREE_M).abs() < 1e-6);
    }

    #[test]
    fn short_hops_keep_their_precision() {
        // 1 m north: the cosine formula would be off by decimetres here.
        let d = haversine_m(48.0, 11.0, 48.0 + 1.0 / DEGREE_M, 11.0);
        assert!((d - 1.0).abs() < 1e-6, "{d}");
    }

    #[test]
    fn valid_points() {
        assert!(is_valid_point(0.0, 0.0));
        assert!(is_valid_point(-90.0, 180.0));
        assert!(!is_valid_point(90.1, 0.0));
        assert!(!is_valid_point(0.0, -180.5));
        assert!(!is_valid_point(f64::NAN, 0.0));
        assert!(!is_valid_point(0.0, f64::INFINITY));
    }

    #[test]
    fn haversine_matches_a_known_distance() {
        // One degree of latitude along a meridian, then Marienplatz to the Hauptbahnhof (about 1.37 km).
        let degree = haversine_m(48.0, 11.0, 49.0, 11.0);
        assert!((degree - 111_195.08).abs() < 0.01, "{degree}");
        let d = haversine_m(48.137_154, 11.576_124, 48.140_229, 11.558_339);
        assert!((d - 1_364.0).abs() < 15.0, "{d}");
        assert_eq!(haversine_m(48.0, 11.0, 48.0, 11.0), 0.0);
    }

    #[test]
    fn bearings_point_the_right_way() {
        assert!((bearing_deg(48.0, 11.0, 48.1, 11.0) - 0.0).abs() < 1e-9);
        assert!((bearing_deg(48.0, 11.0, 48.0, 11.1) - 90.0).abs() < 0.1);
        assert!((bearing_deg(48.1, 11.0, 48.0, 11.0) - 180.0).abs() < 1e-9);
        assert!((bearing_deg(48.0, 11.1, 48.0, 11.0) - 270.0).abs() < 0.1);
        for b in [-720.0, -1e-15, 0.0, 359.999_999, 360.0, 725.0] {
            let n = normalize_deg(b);
            assert!((0.0..360.0).contains(&n), "{b} -> {n}");
        }
    }

    #[test]
    fn offset_inverts_distance_and_bearing() {
        for bearing in [0.0, 45.0, 90.0, 133.0, 180.0, 270.0, 359.0] {
            let (lat, lon) = offset(48.137, 11.576, bearing, 1_000.0);
            assert!((haversine_m(48.137, 11.576, lat, lon) - 1_000.0).abs() < 1e-6);
            let back = bearing_deg(48.137, 11.576, lat, lon);
            let diff = (back - bearing + 540.0).rem_euclid(360.0) - 180.0;
            assert!(diff.abs() < 1e-6, "{bearing} -> {back}");
        }
    }

    #[test]
    fn the_plane_agrees_with_haversine_within_a_city() {
        let plane = LocalPlane::new(48.137, 11.576);
        let a = plane.to_xy(48.11, 11.54);
        let b = plane.to_xy(48.16, 11.61);
        let flat = plane_distance(a, b);
        let round = haversine_m(48.11, 11.54, 48.16, 11.61);
        assert!((flat - round).abs() / round < 1e-3, "{flat} vs {round}");
    }

    #[test]
    fn segment_distance() {
        let (a, b) = ([0.0, 0.0], [10.0, 0.0]);
        assert_eq!(point_segment_distance([5.0, 3.0], a, b), 3.0);
        assert_eq!(point_segment_distance([-4.0, 3.0], a, b), 5.0);
        assert_eq!(point_segment_distance([13.0, 4.0], a, b), 5.0);
        assert_eq!(point_segment_distance([3.0, 4.0], a, a), 5.0);
    }
}
