# stockcast: `make run` (the whole job on the bundled sample) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# where the measuring targets write their stamped JSON (`make results FROM=outputs` reads it)
RESULTS := outputs/results
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# command:Debian package pairs that the serving, monitoring and browser tests run for real
# (Debian's postgresql puts initdb and pg_ctl off PATH, in /usr/lib/postgresql/<major>/bin, where
# the tracking-server test finds them; pg_ctlcluster, on PATH, says the package is there)
SYSTEM_DEPS := java:openjdk-17-jre-headless prometheus:prometheus promtool:prometheus \
	chromium:chromium docker-compose:docker-compose dockerd:docker.io mmdebstrap:mmdebstrap \
	pg_ctlcluster:postgresql haproxy:haproxy
# checkov (the manifests' policy check) in a virtualenv of its own: its pins would move packages
# the project runs with
CHECKOV := build/checkov/bin/checkov

.PHONY: image install system-deps test test-fast lint format train run serve stop package retrain rollback \
	mlflow bench-serving bench-training soak results clean dashboards manifests bench-replicas \
	bench-multi-ticker forecast bench-batch

install: $(VENV)/.installed

$(CHECKOV):
	$(PYTHON) -m venv build/checkov
	build/checkov/bin/pip install --quiet checkov==3.3.30

# torch first, pinned to the CPU build, so no dependency pulls a multi-GB CUDA wheel
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

system-deps:
	@missing=""; \
	for dep in $(SYSTEM_DEPS); do command -v $${dep%%:*} >/dev/null || missing="$$missing $${dep#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# the whole suite (what CI runs); the fast lane leaves out what trains a model and what starts a
# JVM, server, browser or Docker (the markers: pyproject.toml, enforced by tests/conftest.py)
test: install system-deps $(CHECKOV)
	$(PY) -m pytest -q --suite-json $(RESULTS)/suite.json

test-fast: install $(CHECKOV)
	$(PY) -m pytest -q -m "not slow and not integration"

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

train: install
	$(PY) train.py

# RUN=outputs/train/runs/<run>, else the newest complete non-debug run (or the archive `make
# package` built after it; trains one if there is none) -> reuse or build the archive -> (re)start
# TorchServe and the upload page in the background -> forecast data/GOOG.csv -> print JSON and URLs
run: install system-deps
	$(PY) scripts/stack.py up $(if $(RUN),--run $(RUN))

# the same (re)start on the model store as it is: the version `make retrain`/`make rollback` left
serve: install system-deps
	$(PY) scripts/stack.py serve

stop:
	$(PY) scripts/stack.py down

# against the running TorchServe (make run / make serve / docker compose): refresh the prices ->
# train a challenger and its deployable refit -> register it as a new version -> make it the
# default only if it wins on held-out days (conf/lifecycle/default.yaml) -> print the decision.
# Hydra overrides in ARGS, e.g. make retrain ARGS="lifecycle.refresh=false"
retrain: install
	$(PY) lifecycle.py command=retrain $(ARGS)

# make the version the last promotion replaced the default again (a second call changes nothing)
rollback: install
	$(PY) lifecycle.py command=rollback $(ARGS)

# MLflow's UI on the tracked runs (train.py, backtest.py, lifecycle.py: outputs/mlflow/, or the
# server MLFLOW_TRACKING_URI names), on http://127.0.0.1:$(MLFLOW_PORT); Ctrl-C stops it
MLFLOW_PORT ?= 5000
mlflow: install
	$(PY) scripts/mlflow_ui.py --port $(MLFLOW_PORT)

# RUN=outputs/train/runs/<run> (default: the newest complete non-debug run) -> model_store/stockcast.mar
package: install
	$(PY) scripts/package_model.py $(RUN)

# forecasts for a universe of tickers, no server (conf/forecast.yaml): TICKERS=AAPL,MSFT (default
# data.tickers, read from data/) or INPUT=<folder of CSVs, one ticker each>; MODEL=<.mar or model
# directory> (default model_store/<model_name>.mar) -> one table, CSV and Parquet, and an errors
# table in outputs/forecast/runs/<time>/; Hydra overrides in ARGS, e.g. ARGS="exchange=XNYS"
forecast: install
	$(PY) forecast.py $(if $(TICKERS),'tickers=[$(TICKERS)]') $(if $(INPUT),input_dir=$(INPUT)) \
		$(if $(MODEL),model_path=$(MODEL)) $(ARGS)

# wrk against an empty handler, the checks handler (stockcast's reads and checks, no forecast) and
# the stockcast archive, in turn, same settings: all three, and the ratios (p50 at concurrency 1,
# requests/s at 8 and 32, server CPU per request); RUN=outputs/train/runs/<run> (default: the
# newest complete non-debug run); about 7 minutes, printed up front with a line per level;
# BENCH_ARGS="--duration 5 --rounds 1" passes options on; the figures go to outputs/results/.
# BASELINE=path/to/previous.mar serves that release's archive too, in every round (a third longer),
# and adds stockcast / baseline: p50 at c=1 (target at most 1.3x), requests/s at c=8 (at least 0.75x)
bench-serving: install
	@$(MAKE) --no-print-directory system-deps SYSTEM_DEPS="$(SYSTEM_DEPS) wrk:wrk"
	$(PY) -m stockcast.bench serving --json $(RESULTS)/latency.json $(if $(RUN),--run $(RUN)) \
		$(if $(BASELINE),--baseline-mar $(BASELINE)) $(BENCH_ARGS)

# one request of 100 tickers (a long CSV) against 100 single requests, sequential, same server
# and rows, alternated 5 times: wall ms per ticker of each (median); MAR=path/to/stockcast.mar
# (default: a fresh archive of the newest run); about a minute; outputs/results/multi-ticker.json
bench-multi-ticker: install
	$(PY) -m stockcast.bench.multi_ticker --json $(RESULTS)/multi-ticker.json \
		$(if $(MAR),--mar $(MAR)) $(BENCH_ARGS)

# two serving replicas (the image, run as the Kubernetes manifest runs it, a core each) behind
# Debian's HAProxy on loopback under wrk: one replica and two, then each stopped and started again
# under load (health checks alone, then drained first), failed requests counted; about 6 minutes;
# the figures go to outputs/results/replicas.json (`make results FROM=outputs`: docs/scaling.md)
bench-replicas: install
	@$(MAKE) --no-print-directory system-deps SYSTEM_DEPS="$(SYSTEM_DEPS) wrk:wrk"
	$(PY) -m stockcast.bench.replicas --json $(RESULTS)/replicas.json $(BENCH_ARGS)

# Lightning's Trainer.fit against a bare PyTorch loop, alternated (about a minute);
# BENCH_ARGS="--rounds 3 --steps 200" passes options on
bench-training: install
	$(PY) -m stockcast.bench training --json $(RESULTS)/training-overhead.json $(BENCH_ARGS)

# forecast.py's batch path (answer_batch in chunks of 64, no server) on 100 tickers made from the
# bundled series, alternated with one upload per call; tickers/s to outputs/results/ (under a
# minute); BENCH_ARGS="--tickers 500 --chunk-size 128" passes options on
bench-batch: install
	$(PY) -m stockcast.bench batch --json $(RESULTS)/batch-forecast.json $(BENCH_ARGS)

# the serving image (deploy/Dockerfile): from the public base and indexes when a registry answers,
# else from a base made from Debian's archive and a loopback wheelhouse; starts dockerd if needed.
# `docker run --network host stockcast-torchserve:<version>` then serves the model built into it;
# IMAGE_ARGS=--no-cache measures a first build
image: install system-deps
	$(PY) scripts/build_image.py --json $(RESULTS)/image.json $(IMAGE_ARGS)

clean:
	rm -rf outputs model_store logs .run

# soak (DURATION seconds at concurrency 16, default 300) then a worker SIGKILLed under load,
# against a fresh loopback TorchServe serving model_store/stockcast.mar (`make package` first);
# BENCH_ARGS="--concurrency 32 --max-requests 50000" passes options on
soak: install system-deps
	$(PY) -m stockcast.bench soak --duration $(or $(DURATION),300) --kill-worker \
		--json $(RESULTS)/soak.json $(BENCH_ARGS)

# every results table and picture of the docs: FROM=outputs (or a sweep, a run, a JSON) first
# copies the newest measurement of each kind into docs/results/ and the plots into docs/img/;
# then each <!-- results:NAME --> block of docs/*.md is rendered from docs/results/NAME.json
results: install
	$(PY) -m stockcast.bench.results $(if $(FROM),--from $(FROM))

# monitoring/grafana/dashboards/*.json from stockcast/stack/dashboards.py (grafana-foundation-sdk);
# a clean checkout regenerates with no difference (tests/monitoring/test_dashboards_as_code.py)
dashboards: install
	$(PY) -m stockcast.stack.dashboards

# the Kubernetes manifests of deploy/k8s/overlays/$(OVERLAY) (keda, the default, or cpu), after
# regenerating what deploy/k8s derives from the repository (TorchServe's config, the alert rules)
# and writing deploy/k8s/base/keys.env with random keys if there is none; docs/scaling.md
manifests: install
	@$(PY) -m stockcast.stack.kubernetes manifests $(if $(OVERLAY),--overlay $(OVERLAY))

# the docs site (mkdocs.yml, docs/) into site/; --strict fails on a broken link or anchor
.PHONY: docs
docs: install
	$(VENV)/bin/mkdocs build --strict
