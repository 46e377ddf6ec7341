"""Payment analytics for operators: ``GET /admin/analytics``, its live stream and the dashboard page.

``query.py`` reads the range, ``feed.py`` keeps this process's snapshots for live streams, ``app.py``
holds the routes. The figures themselves are defined in ``hub.domain.analytics`` and computed by the
store (``Store.payment_figures``, in SQL).
"""
