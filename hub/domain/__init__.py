"""Pure payment domain: no I/O, no framework imports."""
