# massiv — every target installs what it needs first (uv is bootstrapped from pip if missing).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: install browser postgres system-packages demo test check fmt bench bench-flows bench-prefect bench-neardup bench-neardup-accuracy bench-dask bench-scale bench-annotations bench-patch bench-access bench-serve bench-lookup clean

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
	  python3 -m pip install --quiet uv || \
	  python3 -m pip install --quiet --user uv || \
	  python3 -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen
	@touch $@

demo: install  ## the main job end to end on the embedded default (small synthetic export)
	$(RUN) massiv demo

test: install browser postgres  ## the whole suite (with the optional NudeNet extra, so its screening is tested)
	$(RUN) --extra nudity pytest -n 2 --dist loadfile -q

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian's Chromium (Playwright drives it; nothing downloads a browser) and Postgres (the
# site-state tests start their own server in a temp dir): installed when missing, one apt run.
browser postgres: system-packages
system-packages:
	@missing=""; \
	  test -x /usr/bin/chromium || missing="$$missing chromium"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian's$$missing for the tests"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	  fi

check: install  ## lint, format check, types, the import layers (pyproject.toml)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports --no-cache

fmt: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: bench-scale bench-flows bench-prefect bench-neardup bench-neardup-accuracy bench-dask bench-annotations bench-patch bench-access bench-serve bench-lookup  ## all benchmarks; results in bench/results/

bench-flows: install  ## curate + release on a 1.5M pool
	$(RUN) python -m bench.flows

bench-prefect: install  ## Prefect's own overhead per flow run
	$(RUN) python -m bench.prefect_overhead

bench-neardup: install  ## near-duplicate search over 1.5M videos' frame hashes
	$(RUN) python -m bench.neardup_scale

bench-neardup-accuracy: install  ## near-duplicate accuracy and speed on real video vs videohash
	$(RUN) python -m bench.neardup_accuracy

bench-scale: install  ## massiv curate end to end on 10M, 50M, 200M-post exports vs a DuckDB scan
	$(RUN) python -m bench.scale

bench-dask: install  ## fingerprinting throughput, 1 vs 2 Dask workers (after bench-neardup-accuracy)
	$(RUN) python -m bench.dask_fingerprint

clean:
	rm -rf data .venv .pytest_cache .mypy_cache .ruff_cache

bench-annotations: install  ## gold gate + vote + alpha on 825K labels (55K posts)
	$(RUN) python -m bench.annotations

bench-patch: install  ## patch release: 1,000 opt-outs out of a 155K-row release (50K- and 5K-row shards)
	$(RUN) python -m bench.patch_release

bench-access: install  ## access desk: 200 concurrent URL issuances + downloads on SeaweedFS (and local)
	$(RUN) python -m bench.access_load

bench-serve: install  ## the site: 500 concurrent media redirects + 50 concurrent forms on uvicorn
	$(RUN) python -m bench.serve

bench-lookup: install  ## "Am I in it?": one upload's confined fingerprint + match at 155K videos
	$(RUN) python -m bench.lookup
