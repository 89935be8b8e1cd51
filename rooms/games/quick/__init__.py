"""Quick games: pure, deterministic rules (wheel, colour, pick 3, football) and fair draws."""
