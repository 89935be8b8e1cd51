"""Ways to reach players besides the websocket: WhatsApp and the outbox worker that alerts."""
