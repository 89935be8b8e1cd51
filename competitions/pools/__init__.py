"""Weekly pools, the pure part: weeks, the draw, American odds, grading, ranking, prizes.

The server's wiring lives in server/features/pools/; docs/pools.md describes the rules.
"""
