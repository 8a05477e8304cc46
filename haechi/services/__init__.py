"""Use-cases that every door (CLI, library, API, worker) calls; no door holds logic of its own."""
