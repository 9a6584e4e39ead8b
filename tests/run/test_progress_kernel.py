"""Whether the runner thinks it is in a Jupyter kernel: asked of the running shell, not of what is imported."""

from __future__ import annotations

import subprocess
import sys


def test_importing_ipykernel_does_not_make_a_kernel():
    code = (
        "import ipykernel.kernelapp, sys\n"
        "from llama_eval.run.progress import Progress, in_kernel\n"
        "assert not in_kernel(), 'ipykernel imported, no kernel running'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
