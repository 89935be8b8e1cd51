"""One folder per player-facing capability, each wiring core packages to the edges."""
