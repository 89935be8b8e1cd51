"""Pure competition logic (no I/O): tournament brackets, pool grading and ranking.

Everything here is plain code over plain values, driven by the caller's clock and seeds,
so a test can check every rule exactly. It may import ledger's value helpers only.
"""
