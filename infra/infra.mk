# Deployment: `make package` assembles build/terraform from `chalice package` + infra/*.tf + the
# generated override; `make checkov` scans it. Included by the main Makefile (BIN, PYTHON, install).
# See docs/DEPLOY.md.

STAGE ?= prod
TERRAFORM_DIR := build/terraform
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

.PHONY: package checkov checkov-venv

# Needs AWS_DEFAULT_REGION (chalice package asks for a region, never for credentials).
package: install
	$(BIN)/python -m infra.tools.assemble --stage $(STAGE) --out $(TERRAFORM_DIR)

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

checkov-venv: $(CHECKOV_STAMP)

# tests/infra run checkov from .venv-checkov: `make test` installs it first (prerequisites of a
# target accumulate across rules in GNU make).
test: checkov-venv

checkov: package checkov-venv
	$(BIN)/python -m infra.tools.scan $(TERRAFORM_DIR) --checkov $(CHECKOV_VENV)/bin/checkov
