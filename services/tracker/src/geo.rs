//! Great-circle distance on a spherical Earth.
//!
//! The tracker needs distances for two things: summing the odometer between consecutive fixes and
//! ranking vehicles by distance from a point. Both are fine with a sphere: the spherical error
//! (under 0.5 %) is far below GPS noise over a fix interval and does not change which car is
//! nearest in any way a dispatcher would notice. Kept here rather than borrowed from the roads
//! crate so the tracker's state depends on nothing but the message contract.

/// The mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Whether `lat`/`lon` (WGS 84 degrees) name a place on Earth: finite, latitude within ±90 and
/// longitude within ±180. Anything else would poison a distance with NaN.
pub fn is_valid_point(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
}

/// The great-circle distance in metres between two points given in degrees (haversine formula).
///
/// Haversine rather than the spherical law of cosines because it stays accurate for the short
/// hops between 1 Hz fixes, where the cosine form loses most of its digits. The intermediate is
/// clamped to [0, 1] so rounding can never produce NaN, even for antipodal points.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let phi1 = lat1.to_radians();
    let phi2 = lat2.to_radians();
    let half_dphi = (phi2 - phi1) * 0.5;
    let half_dlambda = (lon2 - lon1).to_radians() * 0.5;
    let sin_dphi = half_dphi.sin();
    let sin_dlambda = half_dlambda.sin();
    let a = sin_dphi * sin_dphi + phi1.cos() * phi2.cos() * sin_dlambda * sin_dlambda;
    2.0 * EARTH_RADIUS_M * a.clamp(0.0, 1.0).sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One degree of arc on the sphere.
    const DEGREE_M: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

    #[test]
    fn zero_for_the_same_point() {
        assert_eq!(distance_m(48.137, 11.575, 48.137, 11.575), 0.0);
    }

    #[test]
    fn one_degree_along_a_meridian_and_the_equator() {
        assert!((distance_m(10.0, 20.0, 11.0, 20.0) - DEGREE_M).abs() < 1e-6);
        assert!((distance_m(0.0, 20.0, 0.0, 21.0) - DEGREE_M).abs() < 1e-6);
        // Across the antimeridian the short way round.
        assert!((distance_m(0.0, 179.5, 0.0, -179.5) - DEGREE_M).abs() < 1e-6);
    }

    #[test]
    fn munich_to_berlin() {
        // Marienplatz to Alexanderplatz: about 504 km as the crow flies.
        let d = distance_m(48.137_154, 11.576_124, 52.521_918, 13.413_215);
        assert!((d - 504_000.0).abs() < 2_000.0, "{d}");
    }

    #[test]
    fn symmetric_and_finite_for_antipodes() {
        let a = distance_m(40.0, -3.7, -40.0, 176.3);
        let b = distance_m(-40.0, 176.3, 40.0, -3.7);
        assert_eq!(a, b);
        assert!((a - 180.0 * DEGREE_M).abs() < 1.0, "{a}");
        assert!(distance_m(90.0, 0.0, -90.0, 0.0).is_finite());
    }

    #[test]
    fn short_hops_keep_their_precision() {
        // 1 m north near Munich: the cosine formula would be off by decimetres here.
        let d = distance_m(48.0, 11.0, 48.0 + 1.0 / DEGREE_M, 11.0);
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
}
