"""Demo mode's WhatsApp simulator: a chat page and an in-process Graph API stand-in."""
