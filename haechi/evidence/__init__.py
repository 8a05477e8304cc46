"""Evidence: web capture, the hash-chained custody log, evidence packages."""
