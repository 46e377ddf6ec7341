"""Push: per-payment status streams over SSE and WebSocket, resumable from the event log."""
