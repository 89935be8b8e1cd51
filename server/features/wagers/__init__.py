"""Wager matches: profiles, challenges, queues, the durable match, disputes, evidence, ratings."""
