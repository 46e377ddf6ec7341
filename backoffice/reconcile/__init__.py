"""Reconciliation of PayHub's records with AMK's, day by day (issue 9).

``matching`` decides one transaction (pure); ``ours`` reads PayHub's record of it; ``runner`` works a
day (lease, collect, decide, report) and resumes a run killed halfway; ``report`` writes JSON and CSV;
``schedule`` runs each day inside the gateway process; ``routes`` is the admin API.
"""
