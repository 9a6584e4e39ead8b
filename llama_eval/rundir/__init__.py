"""A run directory on disk: the write-ahead results log and manifest, health, exports."""
