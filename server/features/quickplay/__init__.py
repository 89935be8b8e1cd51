"""Quick games over HTTP, websocket and WhatsApp: bets, fair seeds, football questions."""
