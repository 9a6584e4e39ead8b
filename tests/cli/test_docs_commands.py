"""Every shell command of the README and the guides, run verbatim, with its shown output checked.

How a page is read (the rules a doc writer follows):

* a fenced ``bash`` block runs, page by page, in one bash session per page (so ``export`` carries
  from block to block), in a folder laid out as the walkthrough leaves a checkout: ``data/``, ``notebooks/``,
  ``deployments.yaml`` for an emulator that is listening, and ``runs/try-it`` run and scored;
* a line ``#> text`` after a command is output the page shows: ``text`` must appear in what the
  block printed (stdout and stderr, whitespace runs folded to one space);
* a block that cannot run here says why in the line right before it: ``<!-- not run: REASON -->``
  (``make test`` is this suite; a placeholder URL of a real Azure resource; the walkthrough, which
  ``test_afternoon.py`` runs). The test fails on a block with neither a run nor a reason;
* ``<...>`` placeholders of a real Azure endpoint are replaced with the emulator's (``PLACEHOLDERS``):
  the only edit made to a command before it runs.

The generated CLI reference (docs/reference) is not a guide and is not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from _support.retail_fake import FakeRetailPrices

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "local-dev-key"  # the walkthrough's stand-in key, as the README exports it
SHELL = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->\s*$")
WALKTHROUGH = "the README's walkthrough: tests/cli/test_afternoon.py runs it verbatim in a fresh folder"
MODEL_URL = "Llama-3.3-70B-Instruct"  # the model a "your endpoint" placeholder stands for (still served serverless)


@dataclass
class Block:
    page: str
    line: int
    text: str
    not_run: str | None  # the page's reason, when it says the block does not run here

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    def expected(self) -> list[str]:
        return [line.strip()[2:].strip() for line in self.text.splitlines() if line.strip().startswith("#> ")]


def pages() -> list[Path]:
    guides = [p for p in sorted((ROOT / "docs").rglob("*.md")) if "reference" not in p.relative_to(ROOT / "docs").parts]
    return [ROOT / "README.md", *guides]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in SHELL.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.search(before)
        why = reason.group(1) if reason else WALKTHROUGH if before.strip() == "<!-- walkthrough -->" else None
        found.append(Block(page.relative_to(ROOT).as_posix(), text.count("\n", 0, match.start()) + 1, match.group(1), why))
    return found


def pages_to_run() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in pages() if any(b.not_run is None for b in blocks(p))]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_EVAL_", "AZURE_INFERENCE_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # what `source .venv/bin/activate` does
    env["LLAMA_EVAL_EMULATOR_KEY"] = KEY
    return {**env, **(extra or {})}


def _cli(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "llama-eval"), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"llama-eval {' '.join(args)}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """The walkthrough's emulator, left running (as the README leaves it) at the walkthrough's speed."""
    base = tmp_path_factory.mktemp("docs-base")
    shutil.copytree(ROOT / "data", base / "data", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", base / "notebooks", ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    log = (base / "emulator.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "llama-eval"), "emulator", "--key", KEY, "--deployments", "data/deployments.emulator.yaml", "--port", "0",
         "--time-scale", "0.05", "--prompts", "data/prompts/quickstart.jsonl", "--write-deployments", "deployments.yaml"],
        cwd=base, env=_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(300):
            if (base / "deployments.yaml").is_file() and (base / "deployments.yaml").stat().st_size:
                break
            assert proc.poll() is None, (base / "emulator.log").read_text()
            subprocess.run(["sleep", "0.2"], check=True)
        quickstart = ("-p", "data/prompts/quickstart.jsonl", "-o", "runs/try-it", "--repeats", "2", "--seed", "7", "--budget-usd", "1")
        _cli(base, "run", "-d", "deployments.yaml", *quickstart)  # the walkthrough's run
        _cli(base, "score", "runs/try-it", "--seed", "0")
        port = re.search(r"127\.0\.0\.1:(\d+)", (base / "deployments.yaml").read_text()).group(1)
        yield base, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def retail_prices():
    with FakeRetailPrices() as server:
        yield server


def test_every_block_runs_or_says_why():
    """A shell block in the README or a guide is run by this file, or the page says why not, in words."""
    unaccounted, empty = [], []
    for page in pages():
        for block in blocks(page):
            if block.not_run is not None and not block.not_run.strip():
                empty.append(block.where)
    for page in pages():
        for block in blocks(page):
            if block.not_run is None and re.search(r"<[a-z][^>]*>", block.text) and not _substitutable(block.text):
                unaccounted.append(f"{block.where}: a placeholder this runner cannot fill: {re.findall(r'<[^>]+>', block.text)}")
    assert not empty, f"'not run:' with no reason at {empty}"
    assert not unaccounted, "\n".join(unaccounted)
    assert pages_to_run(), "no runnable block found: the block pattern broke"


PLACEHOLDERS = {
    "https://<your-deployment>.<region>.models.ai.azure.com": "{emulator}/" + MODEL_URL,
    "<the endpoint's key>": KEY,
}


def _substitutable(text: str) -> bool:
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, "")
    return not re.search(r"<[a-z][^>]*>", text)


@pytest.mark.parametrize("page", pages_to_run())
def test_page_commands_run_verbatim(page, emulator, retail_prices, tmp_path):
    base, url = emulator
    folder = tmp_path / "checkout"
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("emulator.log", ".lock"))
    ran = []
    script_lines = ["set -e", "set -o pipefail"]
    runnable = [b for b in blocks(ROOT / page) if b.not_run is None]
    for number, block in enumerate(runnable):
        text = block.text
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value.format(emulator=url))
        script_lines += [f"echo '=== block {number}' ; echo '=== block {number}' >&2", text]
        ran.append(block)
    env = _env({"LLAMA_EVAL_RETAIL_PRICES_URL": retail_prices.url})
    done = subprocess.run(["bash", "-c", "\n".join(script_lines)], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{page}: exit {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    outputs = _split(done.stdout, len(ran)), _split(done.stderr, len(ran))
    for number, block in enumerate(ran):
        printed = " ".join((outputs[0][number] + "\n" + outputs[1][number]).split())
        for line in block.expected():
            assert " ".join(line.split()) in printed, f"{block.where}: the page shows `{line}`, the command printed:\n{printed[-3000:]}"
    assert "Traceback (most recent call last)" not in done.stdout + done.stderr, done.stderr[-3000:]
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".html", ".csv", ".md") and path.parent.name != "data":
            assert KEY not in path.read_text(errors="replace"), f"the key is in {path}"


def _split(output: str, count: int) -> list[str]:
    parts = re.split(r"^=== block (\d+)\n", output, flags=re.M)
    found = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    return [found.get(i, "") for i in range(count)]
