"""llama-eval's bundled data (catalog, price tables, prompt sets), shipped in the package as ``llama_eval.data``."""
