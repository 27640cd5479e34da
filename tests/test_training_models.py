"""The model lifecycle end to end through the CLI: add, train, evaluate, promote, roll back.

Everything runs on a temporary git copy of the project (data/, heldout/,
domain.yml, the evaluation and out-of-domain sets), trained with
tests/config_small.yml (12 DIET epochs), against a real Rasa server started from
the copy's baseline model: the real data/ and models/ are never touched.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

import bot.config as bot_config
from bot.cli import main
from bot.rasa_api import RasaClient
from bot.store import Store
from bot.training import models
from tests.conftest import ROOT
from tests.projects import copy_project, install_baseline
from tests.servers import running_bot

SMALL = str(ROOT / "tests/config_small.yml")
INTENT = "donation_request"
# Charities, schools and crisis volunteers asking for donations (20 per language).
DONATION = yaml.safe_load((ROOT / "tests/donation_request.yml").read_text(encoding="utf-8"))
# Ten more per language for the test (the bench adds the 20 alone): with 6 held out
# per language, one misread message is not yet below the gate's 0.80.
MORE = {
    "tr": [
        "deprem kampanyamiza kac koli sut ayirabilirsiniz",
        "tiyatro festivalimize ana sponsor olmak ister misiniz",
        "mahalle bagis gunumuz icin peynir gonderebilir misiniz",
        "yetimhane icin her ay yogurt bagisi yapilabilir mi",
        "hayvan barinagi gonulluleri icin urun destegi istiyoruz",
        "basketbol turnuvamiza sponsor bulmaya calisiyoruz",
        "okulumuzun kahvalti programina sut bagislamak ister misiniz",
        "kizilay ile ortak bir bagis kampanyasi yapar misiniz",
        "sporcularimiz icin protein icecegi sponsorlugu rica ediyoruz",
        "mülteci kampındaki ailelere süt yardımı yapabilir misiniz",
    ],
    "en": [
        "how many boxes of milk could you set aside for our quake appeal",
        "would you like to be the main sponsor of our theatre festival",
        "could you send cheese for our neighbourhood giving day",
        "is a monthly yoghurt donation to the orphanage possible",
        "we want product support for the animal shelter volunteers",
        "we are trying to find a sponsor for our basketball tournament",
        "would you donate milk to our school's breakfast club",
        "would you run a joint donation drive with the red crescent",
        "we kindly request a sports drink sponsorship for our athletes",
        "can you give milk to the families in the refugee camp",
    ],
}
EXAMPLES = {lang: DONATION[lang] + MORE[lang] for lang in ("tr", "en")}
RESPONSE_TR = (
    "Bağış ve sponsorluk talepleriniz için web sitemizdeki Destek Başvurusu formunu doldurun."
)
RESPONSE_EN = (
    "For donations and sponsorship, please fill in the Support Request form on our website."
)
# A trainer's bad edit, written straight into data/ (intents add would refuse it):
# every goodbye example pasted under the new intent. The gate must name `goodbye`.
HARMED = "goodbye"


class Lifecycle:
    """The copy, its database, and the running Rasa server."""

    def __init__(self, root: Path, db: Path, bot) -> None:
        self.root, self.db, self.bot = root, db, bot

    def cli(self, *args: str) -> int:
        return main(["--db", str(self.db), *args, "--project", str(self.root)])

    def model(self, action: str, *args: str) -> int:
        server = [] if action == "train" else ["--rasa-url", self.bot.rasa_url]
        return self.cli("model", action, *args, *server)

    def intent(self, text: str) -> str:
        return RasaClient(self.bot.rasa_url, self.bot.token).parse(text)["intent"]["name"]

    def served(self) -> str:
        return RasaClient(self.bot.rasa_url, self.bot.token).status()["model_file"]

    def store(self) -> Store:
        return Store.open(self.db)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory, monkeypatch_module, small_baseline) -> Iterator[Lifecycle]:
    """A project copy with a baseline model trained by the small config, live in Rasa."""
    base = tmp_path_factory.mktemp("lifecycle")
    root = copy_project(base / "project")
    db = base / "crisisdesk.db"
    store = Store.open(db)
    store.create_user("ada", "admin", "ada-admin-password-1")
    store.create_user("eda", "trainer", "eda-trainer-password-1")
    store.close()
    live = install_baseline(small_baseline, root)
    with running_bot(base / "servers", live) as bot:
        monkeypatch_module.setenv("RASA_TOKEN", bot.token)
        # The CLI reads the process-wide settings (bot.config.settings), which an
        # earlier test of the session may have read with another token: read again.
        monkeypatch_module.setattr(bot_config, "_settings", None)
        yield Lifecycle(root, db, bot)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def _write(path: Path, examples: dict) -> Path:
    path.write_text(yaml.safe_dump(examples, allow_unicode=True), encoding="utf-8")
    return path


def _replies(bot, sender: str, text: str) -> str:
    return " ".join(m.get("text", "") for m in bot.say(sender, text))


@pytest.mark.slow
def test_an_intent_added_through_the_cli_goes_live_and_rollback_restores_the_old_model(
    lifecycle, tmp_path, capsys
):
    root, bot = lifecycle.root, lifecycle.bot
    before = {"tr": lifecycle.intent(DONATION["tr"][0]), "en": lifecycle.intent(DONATION["en"][0])}
    assert INTENT not in before.values()

    examples = _write(tmp_path / "donation.yml", EXAMPLES)
    assert (
        lifecycle.cli(
            "intents",
            "add",
            INTENT,
            "--examples",
            str(examples),
            "--author",
            "eda",
            "--response-tr",
            RESPONSE_TR,
            "--response-en",
            RESPONSE_EN,
        )
        == 0
    )
    for path in (f"data/nlu/{INTENT}.yml", f"heldout/nlu/{INTENT}.yml", f"data/rules/{INTENT}.yml"):
        assert (root / path).is_file(), path
    validate = subprocess.run(
        [sys.executable, "scripts/validate.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert validate.returncode == 0 and "rasa data validate: clean" in validate.stdout

    assert lifecycle.model("train", "--config", SMALL) == 0
    [candidate] = models.list_candidates(root)
    assert lifecycle.model("evaluate") == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out, out
    assert f"{INTENT:<28}" in out and "(new)" in out and "out-of-domain rejected share" in out

    assert lifecycle.model("promote", "--as", "eda") == 0, capsys.readouterr()
    assert lifecycle.served() == candidate.name
    assert (root / models.PROMOTED / candidate.name).is_file() and not candidate.exists()
    store = lifecycle.store()
    [promotion] = store.list_promotions()
    store.close()
    assert promotion["promoted_by"] == "eda" and not promotion["forced"]
    assert promotion["report"]["gate"]["passed"]
    new_row = next(r for r in promotion["report"]["intents"] if r["intent"] == INTENT)
    assert new_row["kind"] == "new" and new_row["new"] >= models.NEW_INTENT_MIN_F1

    # The running server now knows the intent in both languages and answers with its response.
    trained = yaml.safe_load((root / f"data/nlu/{INTENT}.yml").read_text())["nlu"]
    assert sorted(block["metadata"]["language"] for block in trained) == ["en", "tr"]
    for block in trained:
        text = block["examples"].splitlines()[0][2:]
        assert lifecycle.intent(text) == INTENT, text
    assert RESPONSE_TR in _replies(
        bot, "donor-tr", "kuzey sut olarak festivalimize sponsor olur musunuz"
    )
    assert RESPONSE_EN in _replies(bot, "donor-en", "could you sponsor our charity run this year")

    assert lifecycle.model("rollback", "--as", "eda") == 0
    assert lifecycle.served() == "crisisdesk.tar.gz"
    assert lifecycle.intent(DONATION["tr"][0]) == before["tr"]
    assert lifecycle.intent(DONATION["en"][0]) == before["en"]
    assert RESPONSE_EN not in _replies(
        bot, "donor-en-2", "could you sponsor our charity run this year"
    )


@pytest.mark.slow
def test_the_gate_refuses_a_harmful_change_and_names_the_intent_an_admin_may_force_it(
    lifecycle, capsys
):
    root = lifecycle.root
    if not (root / f"data/nlu/{INTENT}.yml").is_file():
        pytest.skip("needs the intent the first test adds")
    served = lifecycle.served()
    nlu = root / f"data/nlu/{INTENT}.yml"
    original = nlu.read_text(encoding="utf-8")
    pasted = yaml.safe_load((root / "data/nlu/smalltalk.yml").read_text())["nlu"]
    bad = "".join(
        f"- intent: {INTENT}\n  metadata:\n    language: {b['metadata']['language']}\n"
        "  examples: |\n" + "".join(f"    {line.strip()}\n" for line in b["examples"].splitlines())
        for b in pasted
        if b.get("intent") == HARMED
    )
    probe = bad.splitlines()[4][6:]  # the first pasted example
    assert lifecycle.intent(probe) == HARMED
    nlu.write_text(original + bad, encoding="utf-8")
    try:
        assert lifecycle.model("train", "--config", SMALL) == 0
        capsys.readouterr()
        assert lifecycle.model("promote", "--as", "eda") == 1
        captured = capsys.readouterr()
        assert HARMED in captured.err.split("not promoted:", 1)[1]
        assert re.search(rf"^{HARMED} .*<- regressed$", captured.out, flags=re.M), captured.out
        assert lifecycle.served() == served  # the server kept its model

        assert lifecycle.model("promote", "--force", "--as", "eda") == 1
        assert "admins" in capsys.readouterr().err
        assert lifecycle.served() == served

        assert lifecycle.model("promote", "--force", "--as", "ada") == 0
        assert "FORCED" in capsys.readouterr().out
        assert lifecycle.served() != served
        store = lifecycle.store()
        forced = store.live_promotion()
        audit = store.list_audit()
        store.close()
        assert forced["forced"] and forced["promoted_by"] == "ada"
        assert HARMED in forced["report"]["gate"]["regressed"]
        assert any(a["action"] == "model.promote_forced" and a["actor"] == "ada" for a in audit)
        assert lifecycle.served() == Path(forced["model_file"]).name

        assert lifecycle.model("rollback", "--as", "ada") == 0
        assert lifecycle.served() == served
        assert lifecycle.intent(probe) == HARMED
    finally:
        nlu.write_text(original, encoding="utf-8")


@pytest.mark.slow
def test_status_lists_the_promotions(lifecycle, capsys):
    assert lifecycle.model("status") == 0
    out = capsys.readouterr().out
    assert "Rasa server runs: " in out and "promotions (newest first):" in out


# -- the gate on its own (no model needed) -------------------------------------------


def _comparison(rows, ood_old=0.9, ood_new=0.9):
    return {"intents": rows, "ood": {"old": ood_old, "new": ood_new}}


def _row(intent, old, new, kind="existing"):
    return {"intent": intent, "kind": kind, "old": old, "new": new}


@pytest.mark.parametrize(
    "rows, ood_new, passed, named",
    [
        ([_row("greet", 0.95, 0.93)], 0.9, True, []),  # exactly 2 points: allowed
        ([_row("greet", 0.95, 0.925)], 0.9, False, ["greet"]),
        ([_row("greet", 0.9, 0.99), _row("donation", None, 0.79, "new")], 0.9, False, ["donation"]),
        ([_row("donation", None, 0.80, "new")], 0.9, True, []),
        ([_row("greet", 0.9, 0.9)], 0.89, False, []),  # out-of-domain share dropped
    ],
)
def test_the_gate(rows, ood_new, passed, named):
    verdict = models.gate(_comparison(rows, ood_new=ood_new))
    assert verdict["passed"] is passed
    assert verdict["regressed"] + verdict["new_below_minimum"] == named
    assert verdict["ood_dropped"] is (ood_new < 0.9)


def test_promote_without_a_candidate_says_so(tmp_path, capsys):
    (tmp_path / "models").mkdir()
    code = main(["--db", str(tmp_path / "x.db"), "model", "promote", "--project", str(tmp_path)])
    assert code == 1 and "crisisdesk model train" in capsys.readouterr().err


def test_existing_intents_are_compared_without_the_new_intents_examples():
    examples = [("hi", "greet", "en"), ("hello", "greet", "en"), ("give milk", "donation", "en")]
    old = (["greet", "greet", "greet"], ["greet", "goodbye"])  # the old model reads it as greet
    new = (["greet", "greet", "donation"], ["greet", "goodbye", "donation"])
    result = models.compare(examples, old, new, [], [], [])
    rows = {r["intent"]: r for r in result["intents"]}
    # Without the exclusion the old model's greet would score 0.8 (a false positive).
    assert rows["greet"] == {**rows["greet"], "old": 1.0, "new": 1.0, "kind": "existing"}
    assert rows["donation"]["kind"] == "new" and rows["donation"]["new"] == 1.0
    assert result["confusions_changed"] == [
        {"gold": "donation", "predicted": "greet", "old": 1, "new": 0}
    ]


def test_the_training_bar_follows_rasas_output():
    seen = []
    bar = models._TrainingBar(
        ["CountVectorsFeaturizer", "QuickLoadDIETClassifier", "RulePolicy"], seen.append
    )
    for line in (
        "INFO rasa.engine.training.hooks - Starting to train component 'CountVectorsFeaturizer'.",
        "INFO rasa.engine.training.hooks - Finished training component 'CountVectorsFeaturizer'.",
        "Epochs:  50%|█████     | 6/12 [00:10<00:10,  1.7s/it, t_loss=2.3]",
        "Finished training component 'QuickLoadDIETClassifier'.",
        "Your Rasa model is trained and saved at 'models/candidates/c.tar.gz'.",
    ):
        bar.line(line)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "50 %" in seen[2].stage
