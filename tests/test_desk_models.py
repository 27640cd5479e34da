"""The trainers' intents and models pages (bot/desk/models.py) over the real app and store.

The fast tests use a temporary git copy of the project (never the real data/);
the slow one trains a candidate through the desk with tests/config_small.yml,
promotes it into a real Rasa server, and rolls it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from bot.desk.models import model_jobs
from bot.rasa_api import RasaClient
from bot.training import intents as intent_files
from bot.training import models as lifecycle
from tests.conftest import ROOT
from tests.desk_client import Desk
from tests.projects import copy_project, install_baseline
from tests.servers import running_bot, wait_for
from tests.test_training_models import DONATION, EXAMPLES, INTENT, RESPONSE_EN, RESPONSE_TR

SMALL = ROOT / "tests/config_small.yml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def desk(store, project) -> Desk:
    found = Desk(store)
    found.app.state.project = project
    found.user("tara", "trainer")
    found.user("ada", "admin")
    found.user("ayse", "agent")
    return found


def form(**fields: str) -> dict:
    return {
        "name": INTENT,
        # The CLI's lifecycle test adds the same examples (one training cache).
        "examples_tr": "\n".join(EXAMPLES["tr"]),
        "examples_en": "\n".join(EXAMPLES["en"]),
        "reaction": "response",
        "response_tr": RESPONSE_TR,
        "response_en": RESPONSE_EN,
        **fields,
    }


def post(desk: Desk, client, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": desk.csrf(client)})


def test_only_trainers_and_admins_reach_the_pages(desk):
    agent = desk.login("ayse")
    for path in ("/training/intents", "/training/models", "/training/models/job"):
        assert agent.get(path).status_code == 403
    assert post(desk, agent, "/training/models/train", {}).status_code == 403
    assert desk.client().get("/training/models").status_code in (302, 303, 401)
    trainer = desk.login("tara")
    page = trainer.get("/training/intents")
    assert page.status_code == 200
    assert '<tr id="intent-request_human">' in page.text
    assert 'href="/training/models"' in page.text


def test_the_intents_page_lists_the_counts_per_language(desk, project):
    page = desk.login("tara").get("/training/intents").text
    for row in intent_files.intent_counts(project):
        cells = page.split(f'<tr id="intent-{row["intent"]}">', 1)[1].split("</tr>", 1)[0]
        assert f"<td>{row['tr']}</td><td>{row['en']}</td>" in cells


def test_an_intent_added_in_the_desk_is_written_recorded_and_audited(desk, project, store):
    trainer = desk.login("tara")
    answer = post(desk, trainer, "/training/intents", form())
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/training/intents?added={INTENT}"
    assert (project / f"data/nlu/{INTENT}.yml").is_file()
    assert (project / f"heldout/nlu/{INTENT}.yml").is_file()
    assert f"utter_{INTENT}" in (project / "domain.yml").read_text(encoding="utf-8")
    [change] = store.list_training_changes()
    assert change["author"] == "tara" and change["intent"] == INTENT
    assert any(
        row["action"] == "intent.add" and row["actor"] == "tara" for row in store.list_audit()
    )
    page = trainer.get(answer.headers["location"]).text
    assert f'<tr id="intent-{INTENT}">' in page and "added" in page


def test_a_refused_intent_shows_why_and_writes_nothing(desk, project):
    trainer = desk.login("tara")
    before = (project / "domain.yml").read_text(encoding="utf-8")
    few = form(examples_tr="\n".join(DONATION["tr"][:4]))
    answer = post(desk, trainer, "/training/intents", few)
    assert answer.status_code == 422
    assert "nothing was written" in answer.text and "tr" in answer.text
    assert DONATION["en"][0] in answer.text  # the form keeps what the trainer typed
    # An example another intent already has is named.
    taken = intent_files.project_examples(project)[0]
    clash = form(name="another_intent", examples_en="\n".join([taken.text, *DONATION["en"]]))
    if taken.language == "tr":
        clash = form(name="another_intent", examples_tr="\n".join([taken.text, *DONATION["tr"]]))
    answer = post(desk, trainer, "/training/intents", clash)
    assert answer.status_code == 422
    assert taken.intent in answer.text
    assert (project / "domain.yml").read_text(encoding="utf-8") == before
    assert not (project / "data/nlu/another_intent.yml").exists()
    bad = post(desk, trainer, "/training/intents", form(reaction="shout"))
    assert bad.status_code == 422 and "Choose how the bot reacts" in bad.text


def _report(regressed: bool) -> dict:
    return {
        "candidate": "/x/models/promoted/candidate-1.tar.gz",
        "live": "/x/models/crisisdesk.tar.gz",
        "heldout_files": ["tests/nlu_heldout.yml"],
        "ood_files": ["tests/ood_dev.yml"],
        "evaluated_at": "2026-12-03T07:00:00Z",
        "examples": 40,
        "intents": [
            {
                "intent": "complaint",
                "kind": "existing",
                "examples": 20,
                "old": 0.95,
                "new": 0.80 if regressed else 0.95,
                "delta": -0.15 if regressed else 0.0,
            },
            {
                "intent": INTENT,
                "kind": "new",
                "examples": 8,
                "old": None,
                "new": 0.9,
                "delta": None,
            },
        ],
        "confusions_changed": [{"gold": "complaint", "predicted": "rumour", "old": 0, "new": 3}],
        "ood": {"messages": 30, "old": 0.9, "new": 0.9},
        "macro_f1": {"old": 0.95, "new": 0.9},
        "gate": {
            "passed": not regressed,
            "regressed": ["complaint"] if regressed else [],
            "new_below_minimum": [],
            "ood_dropped": False,
            "reasons": ["complaint: F1 0.95 -> 0.80 (drop 0.15 > 0.02)"] if regressed else [],
        },
    }


def test_a_promotions_report_shows_the_table_and_names_the_regressed_intent(desk, store):
    promotion = store.record_promotion(
        model_file="/x/models/promoted/candidate-1.tar.gz",
        previous_file="/x/models/crisisdesk.tar.gz",
        promoted_by="ada",
        verdict="forced",
        report=_report(regressed=True),
        forced=True,
    )
    trainer = desk.login("tara")
    page = trainer.get(f"/training/models/report?promotion={promotion}").text
    assert "The gate refuses this candidate" in page
    row = page.split('<tr id="f1-complaint" class="regressed">', 1)[1].split("</tr>", 1)[0]
    assert "<td>0.95</td>" in row and "<td>0.80</td>" in row and "<td>-0.15</td>" in row
    assert "regressed" in row
    assert f'<tr id="f1-{INTENT}"' in page and "new" in page
    assert "complaint: F1 0.95 -&gt; 0.80" in page
    assert "<td><code>complaint</code></td><td><code>rumour</code></td><td>0</td><td>3</td>" in page
    models_page = trainer.get("/training/models").text
    assert f'<tr id="promotion-{promotion}">' in models_page and "forced" in models_page
    for missing in ("promotion=999", "promotion=abc", "candidate=nope", "candidate=../x"):
        assert trainer.get(f"/training/models/report?{missing}").status_code == 404


def test_only_an_admin_may_promote_past_the_gate(desk):
    trainer = desk.login("tara")
    answer = post(desk, trainer, "/training/models/promote", {"candidate": "c", "force": "1"})
    assert answer.status_code == 403 and "Only an admin" in answer.text
    assert model_jobs(desk.app).job is None  # nothing started
    answer = post(desk, trainer, "/training/models/promote", {"candidate": ""})
    assert answer.status_code == 422
    admin = desk.login("ada")
    assert "past the gate (admin, logged)" not in trainer.get("/training/models").text
    assert admin.get("/training/models").status_code == 200


# -- through a real Rasa server ---------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_baseline) -> Iterator[tuple]:
    """A project copy whose live model is the small config's baseline, served by Rasa."""
    base = tmp_path_factory.mktemp("desk-models")
    root = copy_project(base / "project")
    live = install_baseline(small_baseline, root)
    with running_bot(base / "servers", live) as bot:
        yield root, bot


@pytest.mark.slow
def test_a_trainer_adds_trains_promotes_and_rolls_back_in_the_desk(served, store):
    root, bot = served
    desk = Desk(store, RASA_URL=bot.rasa_url, RASA_TOKEN=bot.token)
    desk.app.state.project = root
    jobs = model_jobs(desk.app)
    jobs.config = SMALL
    desk.user("tara", "trainer")
    trainer = desk.login("tara")
    rasa = RasaClient(bot.rasa_url, bot.token)

    assert post(desk, trainer, "/training/intents", form()).status_code == 303
    assert post(desk, trainer, "/training/models/train", {}).status_code == 303
    running = trainer.get("/training/models/job").text
    assert 'hx-trigger="every 1s"' in running  # the page follows the job while it runs
    assert post(desk, trainer, "/training/models/train", {}).status_code == 409  # one at a time
    stages = set()
    wait_for(
        lambda: stages.add(jobs.job.stage) or not jobs.job.running, 600, "training and evaluation"
    )
    assert len(stages) > 2  # the progress moved through several stages
    job = trainer.get("/training/models/job").text
    assert 'data-state="done"' in job, job
    candidate = jobs.job.result["candidate"].replace(".tar.gz", "")
    verdict = json.loads(
        lifecycle.report_path(lifecycle.resolve_candidate(root, candidate)).read_text()
    )
    gate = verdict["gate"]
    report = trainer.get(f"/training/models/report?candidate={candidate}").text
    assert f'<tr id="f1-{INTENT}"' in report  # the new intent has its own row
    for intent in gate["regressed"] + gate["new_below_minimum"]:
        assert f'<tr id="f1-{intent}" class="regressed">' in report

    # The trainer promotes. The small config's candidate is judged like any other: what
    # the gate says decides, and the desk must follow it either way.
    assert (
        post(desk, trainer, "/training/models/promote", {"candidate": candidate}).status_code == 303
    )
    wait_for(lambda: not jobs.job.running, 300, "the promotion")
    if gate["passed"]:
        assert "the gate passes" in job and jobs.job.error == "", jobs.job.error
        expected = "passed"
    else:
        assert "the gate refuses it" in job
        refused = trainer.get("/training/models/job").text
        assert 'data-state="failed"' in refused
        for intent in gate["regressed"] + gate["new_below_minimum"]:
            assert intent in refused  # the refusal names each regressed intent
        assert rasa.status()["model_file"] == "crisisdesk.tar.gz"  # nothing changed
        desk.user("ada", "admin")
        admin = desk.login("ada")
        assert "past the gate (admin, logged)" in admin.get("/training/models").text
        answer = post(
            desk, admin, "/training/models/promote", {"candidate": candidate, "force": "1"}
        )
        assert answer.status_code == 303
        wait_for(lambda: not jobs.job.running, 300, "the forced promotion")
        assert jobs.job.error == "", jobs.job.error
        expected = "forced"
    assert rasa.status()["model_file"] == f"{candidate}.tar.gz"
    trained = yaml.safe_load((root / f"data/nlu/{INTENT}.yml").read_text(encoding="utf-8"))["nlu"]
    for block in trained:
        example = block["examples"].splitlines()[0].lstrip("- ").strip()
        assert rasa.parse(example)["intent"]["name"] == INTENT, example
        lang = block["metadata"]["language"]
        answer = " ".join(m.get("text", "") for m in bot.say(f"desk-{lang}", example))
        assert {"tr": RESPONSE_TR, "en": RESPONSE_EN}[lang] in answer, answer
    page = trainer.get("/training/models").text
    assert "Roll back to the previous model" in page and ">live</span>" in page
    [promotion] = store.list_promotions()
    assert promotion["verdict"] == expected
    assert promotion["report"]["gate"] == gate  # the promotion keeps its report

    assert post(desk, trainer, "/training/models/rollback", {}).status_code == 303
    wait_for(lambda: not jobs.job.running, 300, "the rollback")
    assert jobs.job.error == "", jobs.job.error
    assert rasa.status()["model_file"] == "crisisdesk.tar.gz"
    assert store.get_promotion(promotion["id"])["rolled_back_by"] == "tara"
    assert (
        rasa.parse(trained[0]["examples"].splitlines()[0].lstrip("- "))["intent"]["name"] != INTENT
    )
    actions = {row["action"] for row in store.list_audit()}
    promoted = "model.promote" if expected == "passed" else "model.promote_forced"
    assert {"intent.add", "model.train_started", promoted, "model.rollback"} <= actions
