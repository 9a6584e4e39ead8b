"""``python -m llama_eval.cli``: the same as the ``llama-eval`` command."""

from llama_eval.cli.app import main

raise SystemExit(main())
