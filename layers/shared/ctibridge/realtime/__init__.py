"""Real-time pushes to agents' webphone tabs over the WebSocket API."""
