"""Cases, items, takedown notices, deadlines and statistics."""
