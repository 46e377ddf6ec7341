"""Use cases over the ports: no driver imports here."""
