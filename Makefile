# Two commands on a fresh machine: `make demo`, then `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch before the project so pip resolves the CPU-usable build already on this machine kind
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[dev,bench,scale]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m hific_codec.demo

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# Headless Chromium for the comparison page's browser test (Debian's package, as root); where it
# cannot be installed that test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } \
	  || echo "chromium could not be installed: the comparison page's browser test will be skipped"

bench: $(STAMP)
	$(PY) -m benchmarks --dataset kodak --codecs nic,nic-realism,jpeg,jpeg420,webp,avif,jxl,bpg

clean:
	rm -rf $(VENV) demo_out .pytest_cache
