"""REST API (FastAPI): Haechi routes and the HMA-compatible subset."""
