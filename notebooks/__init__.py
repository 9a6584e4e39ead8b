"""llama-eval's notebooks, shipped in the package as ``llama_eval.notebooks`` (``llama-eval notebooks DIR`` copies them)."""
