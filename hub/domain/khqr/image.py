"""The QR image of a KHQR string, for AMK answers without one and for the sandbox bank."""

from __future__ import annotations

import base64
import io

import segno


def render_png(qr_string: str) -> str:
    """The QR as a base64 PNG (ECC level M, 8 px modules, 4-module quiet zone)."""
    buffer = io.BytesIO()
    segno.make(qr_string, error="m").save(buffer, kind="png", scale=8, border=4)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
