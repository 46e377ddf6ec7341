"""Fan-out buses: deliver committed payment events to handlers in this process."""
