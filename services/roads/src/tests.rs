//! Tests over the embedded city and small hand-made networks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use super::*;

/// A small deterministic generator, so the tests need no dependency for random points.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn reachable(network: &RoadNetwork, forward: bool) -> usize {
    let n = network.nodes().len();
    let mut incoming = vec![Vec::new(); n];
    for e in network.edges() {
        incoming[e.to as usize].push(e.from);
    }
    let mut seen = vec![false; n];
    seen[0] = true;
    let mut queue = VecDeque::from([0]);
    while let Some(node) = queue.pop_front() {
        let next: Vec<NodeId> = if forward {
            network
                .out_edges(node)
                .iter()
                .map(|&e| network.edge(e).to)
                .collect()
        } else {
            incoming[node as usize].clone()
        };
        for m in next {
            if !seen[m as usize] {
                seen[m as usize] = true;
                queue.push_back(m);
            }
        }
    }
    seen.iter().filter(|s| **s).count()
}

/// Plain Dijkstra: the fastest time, to check A* against.
fn dijkstra_time_s(network: &RoadNetwork, from: NodeId, to: NodeId) -> Option<f64> {
    let mut best = vec![f64::INFINITY; network.nodes().len()];
    let mut queue = BinaryHeap::new();
    best[from as usize] = 0.0;
    // Times in nanoseconds as integers keep the heap simple; the comparison below allows for it.
    queue.push(Reverse((0_u64, from)));
    while let Some(Reverse((_, node))) = queue.pop() {
        if node == to {
            return Some(best[to as usize]);
        }
        for &e in network.out_edges(node) {
            let next = network.edge(e).to;
            let t = best[node as usize] + network.travel_time_s(e);
            if t < best[next as usize] {
                best[next as usize] = t;
                queue.push(Reverse(((t * 1e9) as u64, next)));
            }
        }
    }
    None
}

#[test]
fn the_city_loads_and_looks_like_a_city() {
    let city = RoadNetwork::city();
    assert!(Arc::ptr_eq(&city, &RoadNetwork::city()), "parsed once");
    assert!(
        (800..2_000).contains(&city.nodes().len()),
        "{}",
        city.nodes().len()
    );
    assert!(
        (2_500..6_000).contains(&city.edges().len()),
        "{}",
        city.edges().len()
    );
    assert!(CITY_JSON.len() < 600 * 1024);
    let b = city.bounds();
    let width = haversine_m(b.min_lat, b.min_lon, b.min_lat, b.max_lon);
    let height = haversine_m(b.min_lat, b.min_lon, b.max_lat, b.min_lon);
    assert!((5_500.0..6_500.0).contains(&width), "{width}");
    assert!((5_500.0..6_500.0).contains(&height), "{height}");
    assert!(b.contains(48.137, 11.576));
    for class in [
        RoadClass::Residential,
        RoadClass::Arterial,
        RoadClass::Expressway,
    ] {
        assert!(
            city.edges().iter().any(|e| e.class == class),
            "no {class} roads"
        );
    }
    let limits: std::collections::BTreeSet<u32> = city
        .edges()
        .iter()
        .map(|e| e.speed_limit_kmh as u32)
        .collect();
    assert!(
        limits.contains(&30) && limits.contains(&50) && limits.contains(&80),
        "{limits:?}"
    );
    assert!(city.edges().iter().all(|e| !e.name.is_empty()));
    // Some one-way streets: an edge without its twin.
    let pairs: std::collections::HashSet<(NodeId, NodeId)> =
        city.edges().iter().map(|e| (e.from, e.to)).collect();
    assert!(
        city.edges()
            .iter()
            .any(|e| !pairs.contains(&(e.to, e.from)))
    );
}

#[test]
fn the_city_is_strongly_connected() {
    let city = RoadNetwork::city();
    let n = city.nodes().len();
    assert_eq!(
        reachable(&city, true),
        n,
        "every node reachable from node 0"
    );
    assert_eq!(
        reachable(&city, false),
        n,
        "node 0 reachable from every node"
    );
}

#[test]
fn edge_lengths_match_their_ends() {
    let city = RoadNetwork::city();
    for e in city.edges() {
        let (a, b) = (city.node(e.from), city.node(e.to));
        let straight = haversine_m(a.lat, a.lon, b.lat, b.lon);
        assert!(
            (e.length_m - straight).abs() < 0.05,
            "edge {}: {} vs {straight}",
            e.id,
            e.length_m
        );
    }
}

#[test]
fn paths_are_chains_of_edges_and_the_fastest() {
    let city = RoadNetwork::city();
    let mut rng = SplitMix(7);
    let n = city.nodes().len();
    for _ in 0..300 {
        let (from, to) = (rng.below(n) as NodeId, rng.below(n) as NodeId);
        let path = city.shortest_path(from, to).expect("strongly connected");
        if from == to {
            assert!(path.is_empty());
            continue;
        }
        assert_eq!(city.edge(path[0]).from, from);
        assert_eq!(city.edge(*path.last().unwrap()).to, to);
        for pair in path.windows(2) {
            assert_eq!(
                city.edge(pair[0]).to,
                city.edge(pair[1]).from,
                "a broken chain"
            );
        }
        let fastest = dijkstra_time_s(&city, from, to).unwrap();
        let time = city.route_time_s(&path);
        assert!(
            (time - fastest).abs() < 1e-6,
            "{from}->{to}: A* {time} s, Dijkstra {fastest} s"
        );
    }
}

#[test]
fn trivial_and_impossible_paths() {
    let city = RoadNetwork::city();
    assert_eq!(city.shortest_path(5, 5), Some(vec![]));
    let missing = city.nodes().len() as NodeId;
    assert_eq!(city.shortest_path(0, missing), None);
    assert_eq!(city.shortest_path(missing, 0), None);
    assert!(city.out_edges(missing).is_empty());

    // One-way from 0 to 1: no way back.
    let one_way = RoadNetwork::from_json(
        r#"{"nodes":[{"id":0,"lat":48.0,"lon":11.0},{"id":1,"lat":48.001,"lon":11.0}],
            "edges":[{"id":0,"from":0,"to":1,"length_m":111.2,"speed_limit_kmh":30,"class":"residential","name":"A"}]}"#,
    )
    .unwrap();
    assert_eq!(one_way.shortest_path(0, 1), Some(vec![0]));
    assert_eq!(one_way.shortest_path(1, 0), None);
}

#[test]
fn shortest_path_is_fast() {
    let city = RoadNetwork::city();
    let mut rng = SplitMix(11);
    let n = city.nodes().len();
    let pairs: Vec<(NodeId, NodeId)> = (0..200)
        .map(|_| (rng.below(n) as NodeId, rng.below(n) as NodeId))
        .collect();
    let started = Instant::now();
    for &(a, b) in &pairs {
        assert!(city.shortest_path(a, b).is_some());
    }
    let per_path = started.elapsed() / pairs.len() as u32;
    eprintln!("shortest_path: {per_path:?} per route");
    // Generous, for unoptimised test builds on a busy machine; release is far below 1 ms.
    assert!(per_path.as_millis() < 20, "{per_path:?} per path");
}

#[test]
fn nearest_edge_agrees_with_a_scan() {
    let city = RoadNetwork::city();
    let b = city.bounds();
    let mut rng = SplitMix(3);
    for i in 0..3_000 {
        // Mostly inside, some well outside the city.
        let margin = if i % 10 == 0 { 0.05 } else { 0.0 };
        let lat = b.min_lat - margin + rng.unit() * (b.max_lat - b.min_lat + 2.0 * margin);
        let lon = b.min_lon - margin + rng.unit() * (b.max_lon - b.min_lon + 2.0 * margin);
        let fast = city.nearest_edge(lat, lon).unwrap();
        let scan = spatial::nearest_edge_by_scan(&city, lat, lon).unwrap();
        assert_eq!(fast, scan, "at {lat}, {lon}");
        assert!((city.distance_to_edge_m(fast.0, lat, lon) - fast.1).abs() < 1e-9);
    }
    assert_eq!(city.nearest_edge(f64::NAN, 11.5), None);
}

#[test]
fn points_on_edges_are_on_the_network() {
    let city = RoadNetwork::city();
    let mut rng = SplitMix(5);
    for _ in 0..2_000 {
        let edge = rng.below(city.edges().len()) as EdgeId;
        let along = rng.unit() * city.edge(edge).length_m;
        let (lat, lon) = city.point_on_edge(edge, along);
        let (_, d) = city.nearest_edge(lat, lon).unwrap();
        assert!(d < 1e-6, "{d} m off the road");
        let from = city.node(city.edge(edge).from);
        let bearing = bearing_deg(from.lat, from.lon, lat, lon);
        if along > 1.0 {
            let diff = (bearing - city.edge_bearing_deg(edge) + 540.0).rem_euclid(360.0) - 180.0;
            assert!(diff.abs() < 0.1, "{diff}");
        }
    }
}

#[test]
fn nearest_edge_is_fast() {
    let city = RoadNetwork::city();
    let b = city.bounds();
    let mut rng = SplitMix(9);
    let started = Instant::now();
    for _ in 0..10_000 {
        let lat = b.min_lat + rng.unit() * (b.max_lat - b.min_lat);
        let lon = b.min_lon + rng.unit() * (b.max_lon - b.min_lon);
        assert!(city.nearest_edge(lat, lon).is_some());
    }
    let per_query = started.elapsed() / 10_000;
    eprintln!("nearest_edge: {per_query:?} per query");
    assert!(per_query.as_micros() < 500, "{per_query:?} per query");
}

fn error_of(json: &str) -> String {
    match RoadNetwork::from_json(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

const NODES: &str = r#"[{"id":0,"lat":48.0,"lon":11.0},{"id":1,"lat":48.001,"lon":11.0}]"#;

fn with_edge(edge: &str) -> String {
    format!(r#"{{"nodes":{NODES},"edges":[{edge}]}}"#)
}

#[test]
fn bad_networks_are_refused_with_a_reason() {
    assert!(error_of("{not json").contains("not valid JSON"));
    assert!(error_of(r#"{"nodes":[]}"#).contains("edges"));
    assert!(error_of(r#"{"nodes":[],"edges":[]}"#).contains("no nodes"));
    let e = error_of(r#"{"nodes":[{"id":1,"lat":48.0,"lon":11.0}],"edges":[]}"#);
    assert!(e.contains("node #0 has id 1"), "{e}");
    let e = error_of(r#"{"nodes":[{"id":0,"lat":148.0,"lon":11.0}],"edges":[]}"#);
    assert!(e.contains("impossible position"), "{e}");
    let good = r#""length_m":111.2,"speed_limit_kmh":30,"class":"residential","name":"A""#;
    let e = error_of(&with_edge(&format!(r#"{{"id":3,"from":0,"to":1,{good}}}"#)));
    assert!(e.contains("edge #0 has id 3"), "{e}");
    let e = error_of(&with_edge(&format!(r#"{{"id":0,"from":0,"to":7,{good}}}"#)));
    assert!(e.contains("node 7, which does not exist"), "{e}");
    let e = error_of(&with_edge(&format!(r#"{{"id":0,"from":1,"to":1,{good}}}"#)));
    assert!(e.contains("starts and ends at node 1"), "{e}");
    let e = error_of(&with_edge(
        r#"{"id":0,"from":0,"to":1,"length_m":50,"speed_limit_kmh":30,"class":"residential","name":"A"}"#,
    ));
    assert!(e.contains("111.") && e.contains("straight-line"), "{e}");
    let e = error_of(&with_edge(
        r#"{"id":0,"from":0,"to":1,"length_m":120,"speed_limit_kmh":0,"class":"residential","name":"A"}"#,
    ));
    assert!(e.contains("speed_limit_kmh 0"), "{e}");
    let e = error_of(&with_edge(
        r#"{"id":0,"from":0,"to":1,"length_m":120,"speed_limit_kmh":30,"class":"motorway","name":"A"}"#,
    ));
    assert!(e.contains("motorway"), "{e}");
}
