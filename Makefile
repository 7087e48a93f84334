# The two commands of the README: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean-venv

INSTALL_LOG := $(VENV)/install.log

# Reinstall only when the requirements change (the stamp is newer than them otherwise). pip's own messages go to
# $(INSTALL_LOG), so that the first `make demo` shows the demo, not pip's warnings; the log is printed if it fails.
$(STAMP): pyproject.toml requirements/constraints.txt
	@echo "make: setting up $(VENV) (a few minutes the first time; pip's messages go to $(INSTALL_LOG))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --disable-pip-version-check --upgrade "pip>=23" && \
	  $(BIN)/python -m pip install --disable-pip-version-check -c requirements/constraints.txt -e ".[test]"; } \
	  > $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); echo "make: setting up $(VENV) failed: see above"; exit 1; }
	@touch $(STAMP)
	@echo "make: $(VENV) is ready"

demo: $(STAMP)
	$(BIN)/spectfewshot demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-venv:
	rm -rf $(VENV)
