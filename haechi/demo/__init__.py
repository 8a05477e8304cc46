"""Sample media and the copy transforms used by the demo, the tests and the benchmarks."""
