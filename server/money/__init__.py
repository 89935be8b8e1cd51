"""Money at the edge: wallets, deposits and withdrawals, M-Pesa, and the hold sweeper."""
