"""Integration service: policies and premiums (the insurer's DLIS/Ingenium behind an adapter)."""
