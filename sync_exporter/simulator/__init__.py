"""A faithful BitTorrent Sync API v1 node, and fleets of them, for demos, tests and benchmarks.

Layers, one job each:

- ``secrets``: secret formats and the derivations a real node performs (rw -> ro -> encryption).
- ``clock``: simulated time; tests drive it by hand, the demo follows the wall clock.
- ``state``: the mutable state of one node (folders, peers, prefs, hosts, faults).
- everything else (API methods, HTTP layer, Sync config file, persistence, scenarios,
  the world that evolves shared folders across nodes, the control API) builds on those.
"""
