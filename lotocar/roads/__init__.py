"""Real roads: an OpenStreetMap road graph in PostgreSQL, routed with pgRouting (issue #19).

Layer: right above `communes` (it reads the places from the communes table) and below the
people features; `candidates` (the matcher's router) and `stats` (road km) use it.

- `models`: the graph (`road_graphs`, `road_vertices`, `road_edges`) and the place-to-place
  matrix (`road_places`, `road_legs`), every row tied to the graph version it came from.
- `speeds`: car speeds per road class (configurable) and the osm2pgrouting configuration.
- `loader`: `flask roads load FILE.osm|.osm.pbf` (osmium-tool for .pbf, osm2pgrouting).
- `engine`: the pgRouting router (legs on demand, cached) and the matrix computation.
- `service`: the process's road router (matrix in memory + engine), kept in step with the
  current graph.
"""
