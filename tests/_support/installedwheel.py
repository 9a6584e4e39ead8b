"""The wheel, built from a copy of the sources and installed outside the checkout (for the packaging and report tests).

``install_wheel(root)`` builds the wheel into ``root/dist`` and installs it into a fresh venv at
``root/venv``; ``in_work(installed, *command)`` runs a command from ``root/work``, a folder with no
checkout in sight. conftest.py makes both a session fixture, and runs ``llama-eval demo`` there
once: the packaging test checks that it ran from the wheel, the report test reads the page it wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "llama_eval", "data", "notebooks")


def install_wheel(root: Path) -> dict[str, Any]:
    """The wheel built from a copy of the sources, installed into a fresh venv in a temp folder.

    The fresh venv holds only llama-eval itself; its dependencies come from this test's own
    environment through a .pth line (installing pandas, jupyterlab, ... again would take minutes and
    test pip, not us). The checkout is not on its path: the editable install's finder lives in a
    .pth file of that environment, and .pth files in a folder added that way are not processed.
    """
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", str(root / "dist"), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("llama_eval-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([str(python), "-c", purelib], capture_output=True, text=True, check=True).stdout.strip())
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    (site / "llama_eval_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_EVAL_", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")  # nbconvert's templates, installed with the borrowed dependencies
    return {"venv": venv, "python": python, "work": work, "env": env, "wheel": wheel}


def in_work(installed: dict[str, Any], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=installed["work"], env=installed["env"], capture_output=True, text=True, timeout=timeout)
