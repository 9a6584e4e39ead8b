"""Load: sweeps of rising load, the latency SLO, and the capacity it gives."""
