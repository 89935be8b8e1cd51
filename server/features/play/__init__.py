"""Live play: matchmaking, rooms and the quiz duel wired to the gateway and the ledger."""
