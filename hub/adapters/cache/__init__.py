"""Cache adapters for premium data: ``get``/``set``/``delete`` of bytes with a TTL, in-process or Redis."""
