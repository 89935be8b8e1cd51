"""The websocket gateway: `/ws`, connections, fan-out across nodes, the handler registry."""
