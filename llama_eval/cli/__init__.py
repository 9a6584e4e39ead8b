"""The ``llama-eval`` command line."""
