"""Payments: deposits and withdrawals through a provider (manual approval or M-Pesa Daraja)."""
