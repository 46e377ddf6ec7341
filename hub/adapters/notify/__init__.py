"""Notification channels (``hub.ports.NotificationChannel``), one module per backend.

``push.py`` (HTTP push provider, FCM HTTP v1 message format), ``sms.py`` (HTTP SMS gateway), ``email.py``
(SMTP with aiosmtplib), ``webhook.py`` (partner endpoints, Standard Webhooks signatures), ``sandbox.py``
(records what each of them would send). ``_http.py``: how an HTTP provider's answer becomes an outcome.
``payhub/backends.py`` picks them by URL scheme; drivers are imported by the module that uses them.
"""
