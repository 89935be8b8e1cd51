"""Responsible play: a player's own limits, self-exclusion, and an operator's suspension."""
