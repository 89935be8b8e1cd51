"""Staked self-challenges: a goal, a deadline, a held stake, reminders and proofs."""
