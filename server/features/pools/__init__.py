"""Weekly pools: passes, the draw, markets, bets, settlement, live boards (docs/pools.md)."""
