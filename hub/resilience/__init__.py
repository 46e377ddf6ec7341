"""Resilience policies: protection against failing dependencies and abusive clients."""
