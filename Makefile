# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APT_PACKAGES := xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
                libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-randr0 \
                libegl1 libgl1 libfontconfig1 libdbus-1-3 libnss3 libxcomposite1 libxdamage1 \
                libxrandr2 libxtst6 libxkbfile1 libasound2 fonts-wqy-microhei desktop-file-utils strace
export MNSTUDIO_SHARED ?= $(abspath ../shared)

.PHONY: run test lint typecheck bench bundle system-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages for Qt's xcb platform under Xvfb (see ../shared/NOTES.md); installed only when missing.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: $(STAMP)
	$(VENV)/bin/mnstudio-gui

lint: $(STAMP)
	$(VENV)/bin/ruff check core studio tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) system-deps lint typecheck
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: $(STAMP)
	$(PY) -m bench.latency
	$(PY) -m bench.accuracy

# A one-folder desktop bundle in dist/mnstudio (see packaging/README.md); not part of `make test`.
bundle: $(STAMP)
	$(PY) -m pip install --quiet 'pyinstaller==6.22.3'
	$(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build packaging/mnstudio.spec

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
