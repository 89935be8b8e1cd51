"""Tournaments: entry fees held at registration, four formats, live brackets, prizes paid once."""
