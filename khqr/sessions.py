"""KHQR session states. The record is ``hub.domain.records.KhqrSession``; its rows are read and
written through the store port, ``tx.khqr_sessions`` (``hub.ports.KhqrSessionRows``)."""

from __future__ import annotations

from hub.domain.records import KhqrSession

PENDING, PAID, EXPIRED = "PENDING", "PAID", "EXPIRED"

Session = KhqrSession  # the name the khqr service has always used

__all__ = ["EXPIRED", "PAID", "PENDING", "Session"]
