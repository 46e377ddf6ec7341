"""The KHQR payload (EMVCo merchant-presented QR, Bakong profile): pure encode/decode, shared by the
KHQR service and the sandbox bank."""
