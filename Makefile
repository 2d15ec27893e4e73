# The two commands a newcomer needs:
#   make check STACK=prod   offline compliance check of a stack (the main job)
#   make test               every test suite
# Both create the virtualenvs they need on first use.
# make turns any failing command into its own exit code 2: CI calls .venv/bin/hybridctl
# directly to tell violations (1) from invalid config (2).

PYTHON ?= python3
STACK ?= dev
VENV := .venv
AIRFLOW_VENV := .venv-airflow
PYTEST_ARGS ?=

.PHONY: check plan test test-platform test-dags lint format bench system-deps clean

check: $(VENV)/.installed
	$(VENV)/bin/hybridctl check --stack $(STACK)

plan: $(VENV)/.installed
	$(VENV)/bin/hybridctl plan --stack $(STACK)

test: test-platform test-dags

test-platform: $(VENV)/.installed system-deps
	$(VENV)/bin/python -m pytest --ignore=tests/dags $(PYTEST_ARGS)

# The DAG tests need the main venv too: they build the prod manifest with hybridctl.
test-dags: $(VENV)/.installed $(AIRFLOW_VENV)/.installed system-deps
	$(AIRFLOW_VENV)/bin/python -m pytest tests/dags $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy components hybridctl etl_image/etl dags __main__.py
	$(VENV)/bin/mypy policies/hybrid_policies policies/__main__.py  # a second __main__ module

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed $(AIRFLOW_VENV)/.installed system-deps
	$(VENV)/bin/python benchmarks/plan_scale.py
	$(VENV)/bin/python benchmarks/check_scale.py
	$(VENV)/bin/python benchmarks/engine_analyze.py
	$(VENV)/bin/python benchmarks/etl_throughput.py
	$(AIRFLOW_VENV)/bin/python benchmarks/dag_parse.py

# The program, the policy pack, hybridctl, the ETL code and the tools share one virtualenv;
# the project itself is installed into it (editable) for the `hybridctl` command.
$(VENV)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt etl_image/requirements.txt pyproject.toml
	@echo "[1/3] $(VENV): creating the virtualenv with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	@echo "[2/3] $(VENV): installing the pinned packages of requirements-dev.txt (Pulumi SDK and"
	@echo "      AWS provider, policy SDK, moto, test and lint tools): about 2 minutes the first time"
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	@echo "[3/3] $(VENV): installing this project (editable) for the hybridctl command"
	PYTHONWARNINGS=ignore $(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@
	@echo "$(VENV) is ready: $(VENV)/bin/hybridctl --help"

# Airflow pins protobuf against pulumi-policy, so the DAG tests get a virtualenv of their own.
$(AIRFLOW_VENV)/.installed: tests/dags/requirements.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r tests/dags/requirements.txt
	touch $@

# Debian packages the tests need, installed only when missing (quiet when all are there):
# MariaDB (the ETL and DAG tests start a private server, no system service), Graphviz's `dot`
# (the HTML report's residency map) and Chromium (the HTML report's browser test, driven by
# Playwright through executable_path; Playwright's own browser download is not used).
system-deps:
	@missing=""; \
	command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null \
	  || missing="$$missing mariadb-server mariadb-client"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) policies/venv .pytest_cache .mypy_cache .ruff_cache .hypothesis
