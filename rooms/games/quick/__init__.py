"""Quick games: pure, deterministic rules (wheel, colour, pick 3, football yes/no) and fair draws."""
