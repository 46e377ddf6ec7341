"""Fraud controls (issue 9; spec § Enhanced Security Framework: velocity checking, blacklist management,
``FRAUD_DETECTED``): rules on premium inquiry, QR generation and bank webhooks, shared by the gateway and
the KHQR service (which may not import each other).

``rules.py`` the configuration; ``windows.py`` the velocity windows (where rate-limit counters live);
``blocklist.py`` the operators' blocklist with its per-process cache; ``engine.py`` the decisions (block
before money moves, flag after), their reviews, logs and metric; ``verdict.py`` what they saw;
``requester.py`` who is asking.
"""
