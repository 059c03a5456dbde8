# The project's verbs. `make book` and `make test` are the two commands of the README; each one sets
# up what it needs first (a virtual environment in .venv), so a fresh clone needs nothing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch the book is tested with. An already-installed torch is left alone, so a CUDA, ROCm or
# CPU-only build installed into .venv beforehand (see README, "Which torch") is kept.
TORCH_SPEC ?= torch==2.13.0
JOBS ?= 2
BOOK_FLAGS := -W -n --keep-going
# The book runs on the offline datasets by default (CNNBOOK_OFFLINE=0 lets chapters try MNIST), and
# on one torch thread: the chapters' small tensors run 2-3x faster than on two (chapter 6: 32 s vs
# 81 s wall on 2 cores), and nbval runs two notebooks at once.
CNNBOOK_OFFLINE ?= 1
NB_ENV := CNNBOOK_OFFLINE=$(CNNBOOK_OFFLINE) OMP_NUM_THREADS=1

.PHONY: help setup book book-assets reader test lint format unit notebooks site-test colab-env colab-test browser-deps jail-deps release grade similarity bench bench-grading clean

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(VENV)/.installed  ## create .venv with the package and every tool

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[book,grading,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

book: setup book-assets  ## build the website into _build/html (every chapter executed, warnings are errors)
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(NB_ENV) $(BIN)/jupyter-book build . --builder html $(BOOK_FLAGS)
	$(MAKE) --no-print-directory reader

# The reader notebooks (cnnbook.reader): the chapters with MyST turned into Markdown and the build's
# outputs kept, for Colab and plain Jupyter. The site's download button serves them (_sources) and
# the pages workflow publishes them on the branch the Colab button opens (see README).
reader: setup  ## reader notebooks of the last build into _build/reader (and the site's downloads)
	$(BIN)/python -m cnnbook.reader --out _build/reader
	test ! -d _build/html/_sources/chapters || cp _build/reader/chapters/*.ipynb _build/html/_sources/chapters/

# Front-end files the site serves itself (MathJax 3), installed from the committed npm lockfile into
# _build/npm and copied to _build/vendor, which Sphinx copies to the site's root (html_extra_path).
MATHJAX := _build/vendor/mathjax
book-assets: $(MATHJAX)/tex-chtml-full.js  ## fetch MathJax from the npm lockfile (no CDN on the site)

$(MATHJAX)/tex-chtml-full.js: package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; } || \
	  { echo "npm is missing: install Node.js and npm"; exit 1; }
	mkdir -p _build/npm && cp package.json package-lock.json _build/npm/
	cd _build/npm && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf $(MATHJAX) && mkdir -p $(MATHJAX)/output
	cd _build/npm/node_modules/mathjax/es5 && \
	  cp -r tex-chtml-full.js ui a11y sre adaptors $(CURDIR)/$(MATHJAX)/ && \
	  cp -r output/chtml $(CURDIR)/$(MATHJAX)/output/
	cp _build/npm/node_modules/mathjax/LICENSE $(MATHJAX)/LICENSE

test: setup browser-deps jail-deps lint unit notebooks site-test colab-test  ## run every test (the CI command)

lint: setup  ## ruff on code and notebooks
	$(BIN)/ruff check src tests benchmarks scripts chapters solutions
	$(BIN)/ruff format --check src tests benchmarks scripts

format: setup  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix src tests benchmarks scripts chapters solutions
	$(BIN)/ruff format src tests benchmarks scripts

unit: setup  ## unit, property and grading tests
	$(BIN)/pytest -n $(JOBS) -m "not browser and not colab" tests

notebooks: setup  ## every chapter and solution notebook runs top to bottom (nbval)
	$(NB_ENV) $(BIN)/pytest -n $(JOBS) --dist loadfile --nbval-lax chapters solutions

site-test: book  ## the built site in headless chromium, offline
	$(BIN)/pytest -m browser tests

# A Colab-like virtual environment (tests/colab/colab_env.py): other numpy, matplotlib, ipywidgets,
# ipykernel than .venv's, a stand-in google.colab; built once into .cnnbook-cache/colab-env.
colab-env: setup  ## build the Colab-like environment the colab tests run notebooks in
	$(BIN)/python tests/colab/colab_env.py

colab-test: book colab-env  ## reader notebooks and assignments run in the Colab-like environment
	$(NB_ENV) $(BIN)/pytest -n $(JOBS) -m colab tests

browser-deps:  ## Debian's chromium for the browser test (installed when missing and run as root)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "chromium is missing: install Debian's chromium package"; exit 1; }

jail-deps:  ## Debian's bubblewrap, the jail grading runs students' code in (installed when missing and run as root)
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; } || \
	  { echo "bubblewrap is missing: install Debian's bubblewrap package"; exit 1; }

release: setup  ## regenerate the student release exercises/ from solutions/ (VARIANT=k: that variant)
	$(BIN)/python -m cnnbook.grading.release $(if $(ASSIGNMENT),$(ASSIGNMENT)) $(if $(VARIANT),--variant $(VARIANT))

grade: setup jail-deps  ## autograde submitted/<student>/<assignment>/ (ASSIGNMENT=01-mlp-to-cnn)
	$(BIN)/python -m cnnbook.grading grade $(ASSIGNMENT) $(if $(VARIANT),--variant $(VARIANT))

# A fixed hash seed: copydetect's fingerprints use Python's hash(), salted per process otherwise.
similarity: setup  ## similarity report of submitted/*/<assignment>/ (ASSIGNMENT=02-convolution)
	PYTHONHASHSEED=0 $(BIN)/python -m cnnbook.grading similarity $(ASSIGNMENT)

bench: setup  ## NumPy layers vs PyTorch, training targets, transfer (prints tables)
	$(BIN)/python benchmarks/bench_numpy_ref.py
	$(BIN)/python benchmarks/bench_dataset_difficulty.py --clock cpu --threads 1
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_transfer.py

bench-grading: setup jail-deps  ## autograding speed per submission and for a class of 200 (about 10 min)
	$(BIN)/python benchmarks/bench_grading.py

clean:  ## remove build outputs (keeps .venv)
	rm -rf _build .pytest_cache .ruff_cache
