#!/usr/bin/env python3
"""Generates city.json, the road network the simulated fleet drives on.

Run it from anywhere: `python3 services/roads/data/generate.py`. Python 3.11, standard library
only. The output is deterministic (a fixed seed, no clock, no dict-order surprises), so running it
again reproduces the committed file byte for byte; change SEED or the constants below and commit
both files together.

The city is made up, not a map: about 6 km x 6 km around lat 48.137, lon 11.576 (a grid of streets
with blocks of 150-250 m, junctions jittered by a few metres, some residential blocks missing and a
few one-way streets), arterials every few lines (50 km/h, two of them 60), residential streets at
30 km/h, a diagonal boulevard at 60 km/h and a grade-separated ring expressway at 80 km/h (70 on its
southern half) with ramps to the grid. Every edge is directed (a two-way street is two edges), its
length is the great-circle distance between its ends, and the whole graph is strongly connected
(checked here, and again by the Rust tests).
"""

from __future__ import annotations

import json
import math
import random
from collections import deque
from pathlib import Path

SEED = 20261101
CENTER_LAT = 48.137
CENTER_LON = 11.576
HALF_SIZE_M = 3000.0
BLOCK_MIN_M = 150.0
BLOCK_MAX_M = 250.0
JITTER_M = 12.0
MISSING_BLOCK_PCT = 9.0
ONE_WAY_LINES = 8
RING_RADIUS_M = 2300.0
RING_NODES = 36
RING_EXIT_EVERY = 3  # every 3rd ring node (30 degrees) has ramps to the grid
EARTH_RADIUS_M = 6_371_008.8  # mean radius, the same as instadash_roads::geo

OUT = Path(__file__).resolve().parent / "city.json"

TREES = [
    "Ahorn", "Birken", "Buchen", "Eichen", "Eschen", "Fichten", "Kastanien", "Linden", "Pappel",
    "Tannen", "Ulmen", "Weiden", "Erlen", "Hasel", "Holunder", "Wacholder", "Kiefern", "Lärchen",
]
BIRDS = [
    "Amsel", "Drossel", "Falken", "Finken", "Lerchen", "Meisen", "Schwalben", "Sperber", "Reiher",
    "Kranich", "Stieglitz", "Zeisig", "Dohlen", "Eulen", "Spatzen", "Tauben", "Kiebitz", "Wachtel",
]
FLOWERS = [
    "Rosen", "Tulpen", "Nelken", "Veilchen", "Lilien", "Flieder", "Astern", "Dahlien", "Enzian",
    "Krokus", "Malven", "Narzissen", "Primel", "Salbei", "Thymian", "Lavendel", "Mohn", "Iris",
]
ARTERIALS = [
    "Leopoldstraße", "Ludwigstraße", "Landsberger Straße", "Rosenheimer Straße", "Dachauer Straße",
    "Ingolstädter Straße", "Wasserburger Landstraße", "Lindwurmstraße", "Prinzregentenstraße",
    "Arnulfstraße", "Schleißheimer Straße", "Tegernseer Landstraße", "Fürstenrieder Straße",
    "Ungererstraße",
]


def to_lat_lon(x: float, y: float) -> tuple[float, float]:
    """Local metres east (x) and north (y) of the centre to degrees (a local tangent plane)."""
    lat = CENTER_LAT + math.degrees(y / EARTH_RADIUS_M)
    lon = CENTER_LON + math.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(CENTER_LAT))))
    return round(lat, 7), round(lon, 7)


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def grid_lines(rng: random.Random) -> list[float]:
    """Positions of parallel streets from -HALF_SIZE_M to +HALF_SIZE_M, irregularly spaced."""
    lines = [-HALF_SIZE_M]
    while True:
        nxt = lines[-1] + rng.uniform(BLOCK_MIN_M, BLOCK_MAX_M)
        if nxt > HALF_SIZE_M:
            return lines
        lines.append(nxt)


def arterial_lines(count: int, rng: random.Random) -> set[int]:
    """Every 4th to 6th line is an arterial, never the outermost ones."""
    chosen, i = set(), rng.randint(2, 4)
    while i < count - 2:
        chosen.add(i)
        i += rng.randint(4, 6)
    return chosen


def strongly_connected(node_count: int, edges: dict[tuple[int, int], dict]) -> bool:
    forward = [[] for _ in range(node_count)]
    backward = [[] for _ in range(node_count)]
    for a, b in edges:
        forward[a].append(b)
        backward[b].append(a)
    for adjacency in (forward, backward):
        seen = [False] * node_count
        seen[0] = True
        queue = deque([0])
        while queue:
            for n in adjacency[queue.popleft()]:
                if not seen[n]:
                    seen[n] = True
                    queue.append(n)
        if not all(seen):
            return False
    return True


def main() -> None:
    rng = random.Random(SEED)
    xs, ys = grid_lines(rng), grid_lines(rng)
    nx, ny = len(xs), len(ys)
    columns_arterial, rows_arterial = arterial_lines(nx, rng), arterial_lines(ny, rng)
    fast_column = sorted(columns_arterial)[len(columns_arterial) // 2]
    fast_row = sorted(rows_arterial)[len(rows_arterial) // 2]

    names = TREES + BIRDS + FLOWERS
    rng.shuffle(names)
    arterial_names = ARTERIALS[:]
    rng.shuffle(arterial_names)
    row_names, column_names = {}, {}
    for j in range(ny):
        row_names[j] = arterial_names.pop() if j in rows_arterial else names.pop() + "straße"
    for i in range(nx):
        column_names[i] = arterial_names.pop() if i in columns_arterial else names.pop() + "weg"

    # Nodes: the grid junctions, jittered, then the ring road's own nodes (grade-separated).
    coords: list[tuple[float, float]] = []
    local: list[tuple[float, float]] = []

    def add_node(x: float, y: float) -> int:
        local.append((x, y))
        coords.append(to_lat_lon(x, y))
        return len(coords) - 1

    grid = {}
    for j in range(ny):
        for i in range(nx):
            grid[i, j] = add_node(xs[i] + rng.uniform(-JITTER_M, JITTER_M), ys[j] + rng.uniform(-JITTER_M, JITTER_M))

    # Undirected streets first: (a, b) -> attributes. Directed edges are made at the end.
    streets: dict[tuple[int, int], dict] = {}

    def street(a: int, b: int, speed: int, cls: str, name: str, line: tuple[str, int] | None = None) -> None:
        streets[a, b] = {"speed": speed, "class": cls, "name": name, "line": line, "oneway": False}

    for j in range(ny):
        for i in range(nx - 1):
            arterial = j in rows_arterial
            speed = (60 if j == fast_row else 50) if arterial else 30
            street(grid[i, j], grid[i + 1, j], speed, "arterial" if arterial else "residential", row_names[j], ("row", j))
    for i in range(nx):
        for j in range(ny - 1):
            arterial = i in columns_arterial
            speed = (60 if i == fast_column else 50) if arterial else 30
            street(grid[i, j], grid[i, j + 1], speed, "arterial" if arterial else "residential", column_names[i], ("column", i))
    for k in range(min(nx, ny) - 1):
        street(grid[k, k], grid[k + 1, k + 1], 60, "arterial", "Große Diagonale")

    ring = [
        add_node(RING_RADIUS_M * math.sin(2 * math.pi * k / RING_NODES), RING_RADIUS_M * math.cos(2 * math.pi * k / RING_NODES))
        for k in range(RING_NODES)
    ]
    for k in range(RING_NODES):
        a, b = ring[k], ring[(k + 1) % RING_NODES]
        southern = local[a][1] < 0 and local[b][1] < 0
        street(a, b, 70 if southern else 80, "expressway", "Stadtring")
    compass = ["Nord", "Nordost", "Ost", "Südost", "Süd", "Südwest", "West", "Nordwest"]
    for k in range(0, RING_NODES, RING_EXIT_EVERY):
        r = ring[k]
        # The nearest junction that is not right under the ring, so a ramp has some length.
        candidates = [n for n in grid.values() if math.dist(local[n], local[r]) > 30]
        nearest = min(candidates, key=lambda n: math.dist(local[n], local[r]))
        direction = compass[round(8 * k / RING_NODES) % 8]
        street(nearest, r, 50, "arterial", f"Stadtring Anschluss {direction}")

    def directed(streets: dict[tuple[int, int], dict]) -> dict[tuple[int, int], dict]:
        edges = {}
        for (a, b), s in streets.items():
            if s["oneway"] == "forward" or not s["oneway"]:
                edges[a, b] = s
            if s["oneway"] == "backward" or not s["oneway"]:
                edges[b, a] = s
        return edges

    # Irregularity: drop some residential blocks, then make a few residential streets one-way,
    # keeping only the changes that leave the city strongly connected.
    node_count = len(coords)
    assert strongly_connected(node_count, directed(streets)), "the full grid must be connected"
    residential = sorted(k for k, s in streets.items() if s["class"] == "residential")
    for key in residential:
        if rng.random() * 100 < MISSING_BLOCK_PCT:
            removed = streets.pop(key)
            if not strongly_connected(node_count, directed(streets)):
                streets[key] = removed

    residential_lines = sorted({s["line"] for s in streets.values() if s["class"] == "residential"})
    for n, line in enumerate(rng.sample(residential_lines, ONE_WAY_LINES)):
        keys = [k for k, s in streets.items() if s["line"] == line]
        direction = "forward" if n % 2 == 0 else "backward"
        for k in keys:
            streets[k]["oneway"] = direction
        if not strongly_connected(node_count, directed(streets)):
            for k in keys:
                streets[k]["oneway"] = False

    edges = directed(streets)
    assert strongly_connected(node_count, edges), "the city must be strongly connected"

    nodes_json = [{"id": n, "lat": lat, "lon": lon} for n, (lat, lon) in enumerate(coords)]
    edges_json = []
    for a, b in sorted(edges):
        s = edges[a, b]
        edges_json.append({
            "id": len(edges_json),
            "from": a,
            "to": b,
            "length_m": round(haversine_m(coords[a], coords[b]), 2),
            "speed_limit_kmh": s["speed"],
            "class": s["class"],
            "name": s["name"],
        })

    def line(obj: dict) -> str:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    text = "{\n"
    text += '"name":"Instadash City",\n'
    text += '"about":"Made up, not a map. Generated by generate.py (seed %d); edit that, not this file.",\n' % SEED
    text += '"nodes":[\n' + ",\n".join(line(n) for n in nodes_json) + "\n],\n"
    text += '"edges":[\n' + ",\n".join(line(e) for e in edges_json) + "\n]\n}\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT.name}: {len(nodes_json)} nodes, {len(edges_json)} edges, {len(text.encode()) // 1024} KiB")


if __name__ == "__main__":
    main()
