"""Where llama-eval finds its bundled data (catalog, prices, prompt sets).

llama-eval is used from a checkout (it is a notebook suite), so the data lives in the repository's
top-level ``data/`` folder beside the package. ``LLAMA_EVAL_DATA`` points elsewhere, e.g. at a copy
with a team's own prompt sets.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The folder holding models.yaml, prices.csv, compute_prices.csv and prompts/."""
    override = os.environ.get("LLAMA_EVAL_DATA")
    return Path(override) if override else REPO_ROOT / "data"
