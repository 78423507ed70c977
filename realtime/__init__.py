"""Realtime delivery: the Redis bus and the WebSocket hub.

Imports from server/, never the reverse."""
