"""Default values that the engine, the command line and the window share.

No imports: the window reads them at start-up, before anything heavy is loaded.
"""

OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TOP_K = 10
"""Matches per query."""
DEFAULT_RADIUS_M = 100.0
"""Consensus radius: matches within this distance of each other vote for one position."""
DEFAULT_THRESHOLD_M = 200.0
"""Survey review: a photo whose GPS tag is farther than this from the prediction is flagged."""
DEFAULT_VERIFY_TOP_K = 20
"""Matches per query checked by geometric verification (local features, two-view fit)."""
