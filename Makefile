# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

system-deps:
	@sh scripts/system-deps.sh

.PHONY: system-deps demo test test-fast wheel-check lint typecheck check bench bench-hash bench-match bench-match-10m bench-robustness bench-video bench-faces bench-capture bench-assess bench-api bench-notice bench-web bench-workers fuzz fuzz-smoke clean model model-eval crash-safety soak reliability-report

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# test-only: the reference the vendored SD watermark decoder (haechi/assess/detectors/_dwtdct.py) is
	# checked against; --no-deps because its metadata pulls in torch. Haechi itself does not need it.
	$(BIN)/pip install --quiet --no-deps invisible-watermark==0.2.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/haechi demo

# everything, slow tests included (subprocess CLI runs, Chromium, Redis/Celery, PostgreSQL, real photos)
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q --durations=30

# the inner loop: without the tests marked slow (< 3 min on 2 cores)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# `pip install` of the built wheel alone, in a fresh venv, runs `haechi demo` and `haechi doctor`
wheel-check:
	sh scripts/check_wheel.sh $(PYTHON)

lint: $(STAMP)
	$(BIN)/ruff check haechi bench tests fuzz scripts

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# threatexchange lives in its own venv so its dependencies never mix with ours.
.venv-tx/bin/threatexchange:
	$(PYTHON) -m venv .venv-tx
	.venv-tx/bin/pip install --quiet threatexchange==1.2.17

bench-hash: $(STAMP) .venv-tx/bin/threatexchange
	$(BIN)/python bench/bench_hash.py --images 500 --tx .venv-tx/bin/threatexchange

bench-match: $(STAMP)
	$(BIN)/python bench/bench_match.py --sizes 1000000

bench-match-10m: $(STAMP)
	$(BIN)/python bench/bench_match.py --sizes 1000000 10000000

bench-robustness: $(STAMP)
	$(BIN)/python bench/bench_robustness.py --generated 1000
	$(BIN)/python bench/bench_composites.py
	$(BIN)/python bench/bench_verify.py

bench: bench-hash bench-match bench-robustness

clean:
	rm -rf $(VENV) build *.egg-info

# threatexchange's vPDQ needs the `vpdq` package, which compiles against system FFmpeg headers
# (Debian: libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev libswscale-dev
# libswresample-dev libavutil-dev pkg-config); without them its row says "not runnable".
bench-video: $(STAMP) .venv-tx/bin/threatexchange
	-.venv-tx/bin/pip install --quiet vpdq
	-.venv-tx/bin/threatexchange config extensions add threatexchange.extensions.vpdq.manifest
	$(BIN)/python bench/bench_video.py --seconds 60 --banked 10000 --tx .venv-tx/bin/threatexchange

bench-faces: $(STAMP)
	$(BIN)/python bench/bench_faces.py --gallery 10000 1000000

bench-capture: $(STAMP) system-deps
	$(BIN)/python bench/bench_capture.py --pages 30

bench-assess: $(STAMP)
	$(BIN)/python bench/bench_assess.py --images 40

# PostgreSQL (127.0.0.1:5432, database test) and Redis (127.0.0.1:6379) must be running
bench-workers: $(STAMP)
	$(BIN)/python bench/bench_workers.py --images 200

bench-api: $(STAMP)
	$(BIN)/python bench/bench_api.py --hashes 100000 --seconds 15 --pool-off-baseline --heavy $(BENCH_API_ARGS) --out bench/api.md

# web app: server time per page (dashboard, case list, case page, review, deadlines) at 1,000 open cases -> bench/web.md
bench-web: $(STAMP)
	$(BIN)/python bench/bench_web.py --cases 1000 --requests 60

bench-notice: $(STAMP) system-deps
	$(BIN)/python bench/bench_notice.py --items 100

# retrain the face-manipulation detector (CPU torch 2.13.0 from this machine's disk; ~20 min on
# 2 cores); writes haechi/assess/models/sbi.{onnx,json} and bench/sbi_eval.md. Needs ../shared/data.
model: $(STAMP)
	$(BIN)/pip install --quiet -e '.[train]'
	$(BIN)/python scripts/train_sbi.py --steps 2500 --swaps 0.3

# re-measure the committed model without training (onnxruntime only)
model-eval: $(STAMP)
	$(BIN)/python scripts/train_sbi.py --evaluate

# SIGKILL during bank import (1M lines), scan/index persistence and capture; disk full
crash-safety: $(STAMP)
	HAECHI_CRASH_LINES=1000000 HAECHI_CRASH_KILLS=5 HAECHI_CRASH_REPORT=bench/crash_safety.json \
		$(BIN)/python -m pytest -q tests/test_crash_safety.py

# 10 minutes of /m/lookup at the highest rate the machine holds, with 1M banked hashes; RSS sampled
soak: $(STAMP)
	$(BIN)/python bench/bench_soak.py --hashes 1000000 --seconds 600 --out bench/soak.json

# bench/reliability.md from the latest fuzz logs, crash-safety and soak results
reliability-report: $(STAMP)
	$(BIN)/python scripts/reliability_report.py

# coverage-guided fuzzing (atheris): FUZZ_SECONDS per harness (default 600 = 10 min each)
fuzz: $(STAMP)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} PY=../$(BIN)/python fuzz/run_all.sh

# a short deterministic run of every harness (CI)
fuzz-smoke: $(STAMP)
	FUZZ_RUNS=200 PY=../$(BIN)/python fuzz/run_all.sh

# issue #17 red-team lab as tests: the screenshot browser sent inward (302 to metadata/loopback,
# DNS rebinding), bank pull rebinding, the egress proxy. Each scenario makes its own network
# namespace (root, or unprivileged user namespaces); here a refused namespace fails, not skips.
.PHONY: redteam
redteam: $(STAMP) system-deps
	HAECHI_REQUIRE_REDTEAM=1 $(BIN)/python -m pytest -q -rs tests/test_redteam.py tests/test_egress.py
