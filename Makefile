# crisisdesk. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
RASA := $(BIN)/rasa
INSTALLED := $(VENV)/.installed
SPACY := var/spacy/.built
MODEL := models/crisisdesk.tar.gz
# Debian's chromium, chromedriver and colour emoji font for the browser tests (scripts/install-browser).
BROWSER := /usr/bin/chromedriver /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
TRAINING_INPUTS := $(shell find data -name '*.yml' 2>/dev/null) domain.yml config.yml \
	$(wildcard bot/nlu/*.py) bot/language.py
export TF_CPP_MIN_LOG_LEVEL := 3
# Rasa would otherwise send telemetry and crash reports to the internet.
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# crisisdesk's own settings (ports, tokens...) are never sourced or exported here:
# bot/launch.py and bot/config.py read the environment first and fill only the
# names it does not set from .env, so `TWILIO_AUTH_TOKEN=... make run` wins.

.PHONY: help setup spacy train run shell test test-unit validate bench screenshots lint lock clean

help: ## list the targets
	@echo "crisisdesk — start with: make run   (or: make test)"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-10s %s\n", $$1, $$2}'

$(INSTALLED): requirements.lock pyproject.toml
	@PYTHON=$$(scripts/find-python310) || exit 1; \
	  [ -x $(PY) ] || "$$PYTHON" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25" "setuptools<71" wheel
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

setup: $(INSTALLED) $(SPACY) .env ## create the venv, spaCy pipelines, .env and database
	@$(BIN)/crisisdesk setup --demo

$(SPACY): $(INSTALLED) bot/nlu/spacy_pipes.py bot/nlu/build.py bot/language.py
	$(PY) -m bot.nlu.build var/spacy
	@touch $@

spacy: $(SPACY) ## build the local Turkish/English spaCy pipelines

.env:
	@sed -e "s/^RASA_TOKEN=$$/RASA_TOKEN=$$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')/" \
	  -e "s/^TELEGRAM_WEBHOOK_SECRET=$$/TELEGRAM_WEBHOOK_SECRET=$$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')/" \
	  .env.example > .env
	@echo "created .env from .env.example (with a fresh RASA_TOKEN and TELEGRAM_WEBHOOK_SECRET)"

$(MODEL): $(INSTALLED) $(SPACY) $(TRAINING_INPUTS)
	$(RASA) train --fixed-model-name crisisdesk --out models
	@touch $@

train: $(MODEL) ## train the model when data, domain or config changed

run: setup $(MODEL) ## start the Rasa server, the action server and the desk (Ctrl-C stops all)
	@$(PY) -m bot.launch check
	@$(BIN)/crisisdesk channels | sed 's/^/    /'
	@echo "  handoff queue:    $(BIN)/crisisdesk handoffs list"; echo
	@# --env /dev/null: honcho would otherwise load .env over the environment.
	@exec $(BIN)/honcho start -f Procfile --env /dev/null

shell: setup $(MODEL) ## chat with the bot in the terminal (starts the action server too)
	@$(PY) -m bot.launch actions >var/actions-shell.log 2>&1 & \
	trap "kill $$! 2>/dev/null" EXIT; \
	$(PY) -m bot.launch shell

validate: $(INSTALLED) ## check training data and domain (rasa data validate)
	$(PY) scripts/validate.py

test-unit: $(INSTALLED) $(SPACY) ## fast tests (no trained model needed)
	$(PY) -m pytest -m "not slow" -q

# Two test processes, one per core; each module whole in one (tests/conftest.py).
PYTEST := $(PY) -m pytest -q --durations=15 -n 2 --dist loadgroup --no-loadscope-reorder

test: $(INSTALLED) $(SPACY) $(BROWSER) validate ## everything: unit, integration and end-to-end tests
	@# The tests that need no model run while it trains (training keeps about one
	@# core busy), then the rest; a failed training shows its log.
	@mkdir -p var; \
	  $(MAKE) --no-print-directory $(MODEL) >var/train-for-tests.log 2>&1 & training=$$!; \
	  $(PYTEST) -m "not slow"; fast=$$?; \
	  wait $$training; trained=$$?; \
	  if [ $$trained != 0 ]; then tail -40 var/train-for-tests.log; exit $$trained; fi; \
	  grep -a "is up to date\|trained and saved" var/train-for-tests.log | tail -1; exit $$fast
	$(PYTEST) -m slow
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml \
	  --fail-on-prediction-errors --out results/stories
	@echo "end-to-end conversations: all stories passed"

$(BROWSER):
	scripts/install-browser


bench: $(INSTALLED) $(SPACY) $(MODEL) ## intent F1, fact matching, latency, memory; WhatsApp vs REST, burst; desk handoff and queue; a new intent to live; the crisis day
	$(PY) scripts/bench.py
	$(PY) scripts/bench_channels.py
	$(PY) scripts/bench_desk.py
	$(PY) scripts/bench_training.py
	$(PY) scripts/bench_crisis_day.py

screenshots: $(INSTALLED) $(SPACY) $(BROWSER) $(MODEL) ## the README's desk screenshots, from the running system
	$(PY) scripts/screenshots.py

lint: $(INSTALLED) ## ruff
	$(BIN)/ruff check bot actions tests scripts

lock: $(INSTALLED) ## re-pin requirements.lock after editing requirements.in
	$(PY) -m pip install --quiet -r requirements.in
	@{ head -2 requirements.lock; $(PY) -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock.new
	@mv requirements.lock.new requirements.lock

clean: ## remove the venv, models, built pipelines and local databases
	rm -rf $(VENV) models var results .rasa
