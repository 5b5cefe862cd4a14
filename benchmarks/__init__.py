"""gradflow's benchmarks: `python -m benchmarks [--quick]` runs them all and prints the tables."""
