"""HTTP plumbing shared by every service: envelope, correlation ids, error handling, bodies."""
