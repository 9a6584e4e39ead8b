# llama-eval — the commands a newcomer needs: `make demo` and `make test`.
# Everything installs itself into .venv on first use (a fresh machine needs only python3 >= 3.11).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test test-fast test-anyday lint docs demo bench clean test-peer azurite screenshot

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,foundry,docs,azure-store,ray]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import llama_eval, azure.ai.inference, openai, papermill, nbval, plotly, pandas, mkdocs, material, mkdocstrings_handlers.python" || (echo "install failed" >&2; exit 1)
	@touch $(STAMP)

install: $(STAMP)

# ruff, then the import contracts of .importlinter (layers flow one way, no circles between siblings)
lint: install
	$(BIN)/ruff check llama_eval tests benchmarks
	$(BIN)/lint-imports --no-logo

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every warning (a broken link,
# a docstring mkdocstrings cannot read) into a failure. Open site/index.html from disk.
# NO_MKDOCS_2_WARNING silences Material's banner about MkDocs 2 and its own end of life (2027-05-05).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# Azurite (Microsoft's Azure Storage emulator, from npm) for the run store's Azure Blob tests; they start it themselves
# and skip, saying why, when it is absent. Best effort: no npm or no registry leaves the tests skipped, not failing.
AZURITE_DIR ?= $(HOME)/.cache/llama-eval/azurite
azurite:
	@test -x $(AZURITE_DIR)/node_modules/.bin/azurite-blob || { command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(AZURITE_DIR) azurite >/dev/null 2>&1; } || echo "azurite not installed (needs npm): the Azure Blob store tests will skip"

# Two at a time (pytest-xdist, a test file per worker), then the tests that judge wall-clock timing alone.
test: lint docs azurite
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not serial" tests notebooks/00_quickstart.ipynb --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg
	$(BIN)/python -m pytest -m serial tests

# Everything but the tests marked slow (crash trials, headless Chromium, papermill reports, full fuzz): about a minute.
test-fast: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow and not serial" tests -q
	$(BIN)/python -m pytest -m "not slow and serial" tests -q

# The fast suite as a clone sees it on a later day (.ci/run runs it after `make test`): the real data sets
# in ../shared hidden, and reaching them any way but tests/_support/shared_data.py fails; the wall clock 400 days
# ahead, in every Python the tests start (tests/conftest.py).
test-anyday: install
	LLAMA_EVAL_TEST_NO_SHARED=1 LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS=400 $(MAKE) --no-print-directory test-fast

# llama.cpp's OpenAI-compatible server with a tiny GGUF the test writes: opt-in, since building
# llama-cpp-python from source takes ~8 minutes on 2 cores (pip caches the wheel afterwards).
# PEER_PYTHON=/path/to/python uses a Python that already has llama-cpp-python[server] and gguf.
PEER_PYTHON ?= $(BIN)/python
test-peer: install
	@$(PEER_PYTHON) -c "import llama_cpp.server, gguf" 2>/dev/null || $(PEER_PYTHON) -m pip install --quiet --disable-pip-version-check 'llama-cpp-python[server]' gguf
	LLAMA_EVAL_PEER=1 LLAMA_EVAL_PEER_PYTHON=$(PEER_PYTHON) $(BIN)/python -m pytest tests/endpoint/test_peer_server.py -m peer -s -q

# The README's picture (docs/report.png): the top of the demo report, taken by the Chromium test that reads that page
# (any other test run writes it to a temp folder, leaving the checkout as it was).
screenshot: install
	LLAMA_EVAL_REFRESH_SCREENSHOT=1 $(BIN)/python -m pytest tests/report/test_report.py -k demo_report_reads_clean -q

demo: install
	$(BIN)/llama-eval demo

bench: install
	@for b in benchmarks/bench_*.py benchmarks/soak.py; do echo "== $$b"; $(BIN)/python "$$b" || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache site
