"""Shared fixtures: a fresh store per test, the real domain, and tracker builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.common
from bot.facts import import_facts, import_faqs
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent

# `make test` runs the tests in two processes, one per core (pytest-xdist with
# --dist loadgroup): each module runs whole in one of them, so its module-scoped
# servers start once, and the trainers' two modules share one process, so the
# session's small baseline model is trained once. The modules that start servers
# or train models go first, longest first, so that neither process is left with
# a long one at the end while the other idles.
SHARED_PROCESS = {"test_desk_models": "trainers", "test_training_models": "trainers"}
LONG_FIRST = (
    "test_desk_models",
    "test_training_models",
    "test_crisis_day",
    "test_desk_restarts",
    "test_whatsapp",
    "test_telegram",
    "test_event_feed",
    "test_handoff_states",
    "test_corrections",
    "test_launch",
    "test_inbox_browser",
    "test_desk_browser",
    "test_webchat",
    "test_alerts",
    "test_nlu_diet",
    "test_nlu_ood",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Groups each module into one process and puts the long modules first.

    A test that talks to the demo bot needs the trained model: it is `slow`
    (`make test-unit` and the tests run while the model trains leave it out).
    """
    for item in items:
        if "demo_bot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        module = item.path.stem
        item.add_marker(pytest.mark.xdist_group(SHARED_PROCESS.get(module, module)))
    rank = {module: position for position, module in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(LONG_FIRST)))  # stable


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store in a temporary file, closed afterwards."""
    opened = Store.open(tmp_path / "crisisdesk.db")
    yield opened
    opened.close()


@pytest.fixture
def demo_store(store: Store) -> Store:
    """The store with the demo facts and FAQ entries published."""
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    return store


@pytest.fixture
def action_store(demo_store: Store) -> Iterator[Store]:
    """Points the actions at the demo store for the duration of a test."""
    actions.common.use_store(demo_store)
    yield demo_store
    actions.common.use_store(None)


@pytest.fixture(scope="session")
def demo_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of `demo_bot`: its store, tracker store and server logs (rasa.log)."""
    return tmp_path_factory.mktemp("demo-bot")


@pytest.fixture(scope="session")
def demo_bot(demo_workdir: Path) -> Iterator[Any]:
    """One running bot for the REST tests of several modules (a Rasa start costs ~20 s).

    The trained model and action server over the demo facts and FAQ; no provider
    settings, so WhatsApp and Telegram are loaded and off. Each test talks as a
    sender of its own, so the modules sharing it cannot see each other's
    conversations.
    """
    from tests.servers import running_bot

    seeded = Store.open(demo_workdir / "crisisdesk.db")
    import_facts(seeded, ROOT / "data/facts/demo.csv")
    import_faqs(seeded, ROOT / "data/facts/faq.csv")
    seeded.close()
    off = {name: "" for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN")}
    with running_bot(demo_workdir, ROOT / "models/crisisdesk.tar.gz", extra_env=off) as bot:
        yield bot


@pytest.fixture(scope="session")
def small_baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/config_small.yml's model of the unchanged data, trained once per session.

    The model lifecycle's and the desk's trainer tests each copy it in as their
    project copy's live model (tests/projects.py) instead of training their own.
    Every training of the session after it shares one Rasa training cache, as the
    trainings in one project share `.rasa/cache`: the desk's and the CLI's
    lifecycle tests add the same intent with the same examples, so whichever runs
    second restores its components from the cache instead of training them again.
    """
    from tests.projects import train_baseline

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path_factory.mktemp("rasa-cache")))
        yield train_baseline(tmp_path_factory.mktemp("small-baseline"))


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """The real domain, as the action server receives it."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    """Collects what an action says."""
    return CollectingDispatcher()


def user_event(
    text: str, intent: str, confidence: float = 0.95, language: str | None = None, **extra: Any
) -> Dict[str, Any]:
    """A user event as Rasa sends it to the action server (with the NLU's language)."""
    parse_data = {
        "text": text,
        "language": language,
        "intent": {"name": intent, "confidence": confidence},
        "entities": extra.pop("entities", []),
        "intent_ranking": extra.pop("intent_ranking", [{"name": intent, "confidence": confidence}]),
    }
    return {
        "event": "user",
        "text": text,
        "parse_data": parse_data,
        "timestamp": 1.0,
        "input_channel": extra.pop("input_channel", "rest"),
        **extra,
    }


def bot_event(text: str) -> Dict[str, Any]:
    """A bot utterance event."""
    return {"event": "bot", "text": text, "timestamp": 1.0}


def make_tracker(
    text: str,
    intent: str,
    *,
    slots: Dict[str, Any] | None = None,
    history: List[Dict[str, Any]] | None = None,
    sender_id: str = "customer-1",
    **extra: Any,
) -> Tracker:
    """A tracker whose latest message is `text` classified as `intent`."""
    latest = user_event(text, intent, **extra)
    events = list(history or []) + [latest]
    return Tracker(
        sender_id,
        {"language": None, "pending": None, **(slots or {})},
        latest["parse_data"],
        events,
        False,
        None,
        {},
        "action_listen",
    )


def open_handoff(store: Store, sender: str = "whatsapp:+905551112233", **extra: Any) -> int:
    """Opens a waiting handoff: a Turkish WhatsApp customer who asked for a person."""
    values: Dict[str, Any] = dict(
        sender_id=sender,
        channel="whatsapp",
        reason="customer asked for a person",
        priority="normal",
        language="tr",
        last_messages=[{"from": "customer", "text": "canlı destek lütfen"}],
    )
    values.update(extra)
    return store.open_handoff(**values)
