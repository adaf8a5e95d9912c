# Everything a fresh machine needs: Python 3.11+, a JDK 17+ and Maven (for Kafka's jars).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup test test-unit demo chaos lint kafka-start kafka-stop clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Fetches Kafka's server jars with Maven once; a no-op while tools/kafka/pom.xml is unchanged.
setup: $(VENV)/.installed
	$(PY) -c "from routeyard.devkafka import ensure_jars; ensure_jars()"

# Starts its own Kafka broker unless KAFKA_BOOTSTRAP is set, and stops it at the end.
test: setup
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest -m "not integration"

demo: setup
	$(PY) -m routeyard.cli demo

# Crashes, a provider outage and a store outage against the delivery promise; exits 1 when
# it is broken. Arguments through ARGS, e.g. make chaos ARGS="--requests 2000 --rate 100".
chaos: setup
	$(PY) benchmarks/chaos.py $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

kafka-start: setup
	$(PY) -m routeyard.cli kafka start

kafka-stop:
	$(PY) -m routeyard.cli kafka stop

clean:
	rm -rf .routeyard .pytest_cache .mypy_cache .ruff_cache
