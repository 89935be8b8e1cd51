"""WhatsApp Cloud API channel: webhook, command router, sender, window and rate tracking."""
