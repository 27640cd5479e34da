"""bot/nlu/diet.py: the trained model loaded without Rasa's training step predicts
exactly what Rasa's own load predicts, and an incomplete restore falls back to it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, List

import pytest
import yaml
from rasa.utils.tensorflow.models import RasaModel

from bot.nlu import diet
from bot.training.evaluate import load_agent
from tests.conftest import ROOT

MODEL = ROOT / "models/crisisdesk.tar.gz"
pytestmark = pytest.mark.slow


def _texts() -> List[str]:
    held_out = yaml.safe_load((ROOT / "tests/nlu_heldout.yml").read_text(encoding="utf-8"))
    texts = []
    for block in held_out["nlu"]:
        texts += [line[2:] for line in block["examples"].splitlines()[:2] if line.strip()]
    return texts + ["asdfgh qwerty", "😡😡😡", "kek tarifi verir misin", "ok"]


def _rankings(agent: Any, texts: List[str]) -> List[list]:
    async def parse() -> List[list]:
        found = []
        for text in texts:
            parsed = await agent.parse_message(text)
            found.append([(r["name"], r["confidence"]) for r in parsed["intent_ranking"]])
        return found

    return asyncio.run(parse())


RASA_LOAD = RasaModel.load.__func__  # Rasa's load, with its training step


def _load(patch: pytest.MonkeyPatch) -> tuple:
    """The agent, and the model classes Rasa's own load was called for meanwhile."""
    called: List[type] = []

    def counted(cls: type, *args: Any, **kwargs: Any) -> RasaModel:
        called.append(cls)
        return RASA_LOAD(cls, *args, **kwargs)

    patch.setattr(RasaModel, "load", classmethod(counted))
    return load_agent(MODEL), called


@pytest.fixture(scope="module")
def quick() -> tuple:
    texts = _texts()
    with pytest.MonkeyPatch.context() as patch:
        agent, called = _load(patch)
    return texts, _rankings(agent, texts), called


def test_the_quick_load_predicts_what_rasas_load_predicts(quick, monkeypatch):
    texts, quick_rankings, called = quick
    assert called == []  # no training step: Rasa's load never ran
    assert len(texts) > 20 and all(quick_rankings)
    # The same model file loaded Rasa's way, for comparison.
    monkeypatch.setattr(diet.QuickLoadDIET, "load", classmethod(RASA_LOAD))
    rasa_rankings = _rankings(load_agent(MODEL), texts)
    assert quick_rankings == rasa_rankings  # names, order and confidences, exactly


def test_an_incomplete_restore_loads_the_model_rasas_way(quick, monkeypatch, caplog):
    texts, quick_rankings, _ = quick
    real = diet.saved_variables
    # As if the checkpoint held one variable the prediction graph never created.
    monkeypatch.setattr(diet, "saved_variables", lambda path: [*real(path), "model/extra"])
    with caplog.at_level(logging.WARNING, logger="bot.nlu.diet"):
        agent, called = _load(monkeypatch)
    assert called == [diet.QuickLoadDIET]
    assert "quick load incomplete" in caplog.text and "loading it Rasa's way" in caplog.text
    assert _rankings(agent, texts) == quick_rankings
