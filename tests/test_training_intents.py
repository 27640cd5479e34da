"""Adding an intent (`crisisdesk intents add`) and listing them, always on a copy of the project.

Every test works in a temporary copy of data/, domain.yml, config.yml, the
evaluation set and the validate script, made a git repository of its own: the
real project's training data, domain and history are never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from actions.intent_facts import ActionAnswerFact
from bot.cli import main
from bot.training import changes, intents
from bot.training.scrub import scrub
from tests.conftest import ROOT, make_tracker

POINTS = {
    "tr": [
        "kuzey kart puanlarım nerede görünüyor",
        "sadakat puanlarımı nasıl harcarım",
        "puanlarım hesabıma yüklenmemiş",
        "kuzey kart puanım kaç oldu öğrenebilir miyim",
        "biriktirdiğim puanlar silinmiş",
        "puanlarla bedava süt alabiliyor muyum",
        "kart puanlarımın son kullanma tarihi var mı",
        "market alışverişimden puan kazanmadım",
        "sadakat programına nasıl üye olurum",
        "puan bakiyemi sorgulamak istiyorum",
        "kuzey kart uygulamasında puanlar sıfır görünüyor",
        "puanlarımı başka birine aktarabilir miyim",
        "geçen ayki alışverişlerin puanı gelmedi",
        "0532 123 45 67 numarama kayıtlı puanlar kayboldu",
        "puan kampanyası hala devam ediyor mu",
    ],
    "en": [
        "where can I see my kuzey card points",
        "how do I spend my loyalty points",
        "my points were not added to my account",
        "can you tell me my kuzey card point balance",
        "the points I collected have disappeared",
        "can I get free milk with my points",
        "do my card points expire",
        "I did not earn points from my supermarket purchase",
        "how do I join the loyalty programme",
        "I want to check my points balance",
        "the kuzey card app shows zero points",
        "can I transfer my points to someone else",
        "last month's purchases never gave me points",
        "the points on my account ayse.kaya@example.com are gone",
        "is the points campaign still running",
    ],
}
RESPONSE = [
    "--response-tr",
    "Kuzey Kart puanlarınızı uygulamadaki Puanlarım sayfasında görebilirsiniz.",
    "--response-en",
    "You can see your Kuzey Card points on the My Points page of the app.",
]
SALE = {
    "tr": [
        "kuzey sut fabrikasi kapanip arazisi mi satiliyor",
        "fabrika arsasini bir insaat sirketine satmissiniz",
        "bursa fabrikasi otel olacakmis dogru mu",
        "uretim tesisinizi satisa cikardiginiz konusuluyor",
        "fabrikanizin yerine avm yapilacakmis",
        "tesisinizin arazisi ihaleye cikmis diyorlar",
        "kuzey sut fabrikayi kapatip tasiniyormus",
        "fabrika binasi icin satis ilani gordum",
        "sut fabrikanizin arsasi satildi haberi",
        "fabrikada uretim durup bina satilacakmis",
        "tesis satisi icin anlasma imzalandi mi",
        "fabrikanizi yikip konut yapacaklarmis",
    ],
    "en": [
        "is kuzey sut selling the factory land",
        "they say you sold the factory plot to a builder",
        "the bursa factory will become a hotel is that true",
        "people say your production site is up for sale",
        "a shopping mall will replace your factory",
        "I heard the site's land went to auction",
        "kuzey sut is closing the factory and moving away",
        "I saw a sale listing for the factory building",
        "news that the milk factory's land was sold",
        "production stops and the building will be sold",
        "was a deal signed to sell the plant",
        "they will demolish the factory to build flats",
    ],
}


PRESS = {
    "tr": [
        "gazeteciyim iflas haberleri icin aciklama alabilir miyim",
        "haber sitemiz icin sirketinizden bilgi almak istiyoruz",
        "bir muhabir olarak yorumunuzu rica ediyorum",
        "yarinki yayinimiz icin resmi gorusunuzu ogrenebilir miyim",
        "basin bultenlerinizi kime sormaliyim",
        "televizyon programimiz icin roportaj talebimiz var",
        "kurumsal iletisim biriminize ulasmam gerekiyor",
        "dergimiz geri cagirma konusunda bir yazi hazirliyor",
        "ajansimiz adina bir soru sormak istiyorum",
        "muhabirim, sozcunuzun telefonunu verir misiniz",
        "haberimize sirketin aciklamasini eklemek istiyoruz",
        "medya iliskileri sorumlunuz kim",
    ],
    "en": [
        "I am a journalist and would like a statement on the recall",
        "could your press office comment for our news site",
        "we are a newspaper asking for the company's position",
        "I'd like to interview your spokesperson for tonight's show",
        "who handles media relations at kuzey sut",
        "our magazine is writing about the rumours, can you comment",
        "reporter here, I need an official quote by noon",
        "please put me in touch with corporate communications",
        "is there a press contact for the bankruptcy story",
        "a news agency is asking for your response",
        "we want to include kuzey sut's statement in our article",
        "can I get the phone number of your press team",
    ],
}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _copy(target: Path, git: bool = True) -> Path:
    for folder in ("data", "heldout"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, target / folder)
    for name in ("domain.yml", "config.yml", "tests/nlu_heldout.yml", "scripts/validate.py"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    if git:
        _git(target, "init", "-q")
        _git(target, "config", "user.name", "Test Committer")
        _git(target, "config", "user.email", "committer@example.invalid")
        _git(target, "add", "-A")
        _git(target, "commit", "-q", "-m", "copy of the project")
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git work tree holding a copy of the project's training data and domain."""
    return _copy(tmp_path / "project")


@pytest.fixture
def db(store, tmp_path: Path) -> str:
    """The path of the test store (the CLI opens it itself)."""
    return str(tmp_path / "crisisdesk.db")


def write_examples(folder: Path, examples: dict, name: str = "examples.yml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(examples, allow_unicode=True), encoding="utf-8")
    return path


def run(db: str, project: Path, *args: str) -> int:
    return main(["--db", db, "intents", *args, "--project", str(project)])


def add(db, project, tmp_path, examples=POINTS, *options, name="loyalty_points"):
    file = write_examples(tmp_path, examples)
    return run(
        db, project, "add", name, "--examples", str(file), "--author", "eda", *(options or RESPONSE)
    )


def nlu_counts(path: Path) -> dict:
    return {
        lang: [e.text for e in intents.read_nlu(path, path.name) if e.language == lang]
        for lang in ("tr", "en")
    }


def snapshot(project: Path) -> dict:
    """Every file of the copy with its content (to prove nothing was written)."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }


# -- a successful add --------------------------------------------------------------


def test_add_writes_examples_heldout_domain_and_rule_and_commits_as_the_trainer(
    project, db, store, tmp_path, capsys
):
    (project / "config.yml").write_text("# someone else's staged edit\n", encoding="utf-8")
    _git(project, "add", "config.yml")
    assert add(db, project, tmp_path) == 0

    train = nlu_counts(project / "data/nlu/loyalty_points.yml")
    held = nlu_counts(project / "heldout/nlu/loyalty_points.yml")
    assert {lang: len(v) for lang, v in train.items()} == {"tr": 12, "en": 12}
    assert {lang: len(v) for lang, v in held.items()} == {"tr": 3, "en": 3}
    for lang in ("tr", "en"):
        assert not set(train[lang]) & set(held[lang])
        assert len(train[lang]) + len(held[lang]) == len(POINTS[lang])
    assert not (project / "data/heldout").exists()

    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    assert "loyalty_points" in domain["intents"]
    variants = domain["responses"]["utter_loyalty_points"]
    assert [v.get("condition", [{}])[0].get("value") for v in variants] == ["tr", "en", None]
    assert variants[1]["text"] == RESPONSE[3]
    assert variants[2]["text"] == f"{RESPONSE[1]} / {RESPONSE[3]}"
    assert "utter_button_loyalty_points" in domain["responses"]
    rules = yaml.safe_load((project / "data/rules/loyalty_points.yml").read_text())["rules"]
    assert rules[0]["steps"] == [{"intent": "loyalty_points"}, {"action": "utter_loyalty_points"}]

    head = _git(project, "log", "-1", "--format=%an <%ae>|%H").strip()
    author, sha = head.split("|")
    assert author == "eda <eda@crisisdesk.local>"
    committed = set(_git(project, "show", "--name-only", "--format=", "HEAD").split())
    assert committed == {
        "data/nlu/loyalty_points.yml",
        "heldout/nlu/loyalty_points.yml",
        "data/rules/loyalty_points.yml",
        "domain.yml",
    }
    # the other staged change stays staged, outside the trainer's commit
    assert _git(project, "diff", "--cached", "--name-only").split() == ["config.yml"]

    [change] = changes.list_changes(store)
    assert change["author"] == "eda" and change["action"] == "add_intent"
    assert change["intent"] == "loyalty_points" and change["git_commit"] == sha
    assert sorted(change["files"]) == sorted(committed)
    assert f"commit {sha}" in capsys.readouterr().out


def test_the_held_out_share_is_chosen_the_same_way_every_time(project, tmp_path):
    first = intents.plan_intent(project, "loyalty_points", POINTS, handoff=True)
    shuffled = {lang: list(reversed(v)) for lang, v in POINTS.items()}
    second = intents.plan_intent(project, "loyalty_points", shuffled, handoff=True)
    for lang in ("tr", "en"):
        assert sorted(first.heldout[lang]) == sorted(second.heldout[lang])
    assert intents.heldout_count(12) == 2 and intents.heldout_count(15) == 3
    assert intents.heldout_count(50) == 10


def test_handoff_intent_hands_over_like_request_human(project, db, tmp_path):
    assert add(db, project, tmp_path, POINTS, "--handoff", name="points_person") == 0
    rules = yaml.safe_load((project / "data/rules/points_person.yml").read_text())["rules"]
    assert rules[0]["steps"][-1] == {"action": "action_handoff"}
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    assert "utter_points_person" not in domain["responses"]
    assert "utter_button_points_person" in domain["responses"]


def test_fact_intents_set_the_fact_slot_and_the_action_answers_with_the_fact(
    project, db, demo_store, action_store, tmp_path
):
    assert add(db, project, tmp_path, SALE, "--fact", "bankruptcy", name="factory_sale") == 0
    assert add(db, project, tmp_path, POINTS, "--fact", "bankruptcy", name="points_rumour") == 0
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    slot = domain["slots"]["intent_fact"]
    assert slot["influence_conversation"] is False
    assert slot["mappings"] == [
        {"type": "from_intent", "intent": "factory_sale", "value": "bankruptcy"},
        {"type": "from_intent", "intent": "points_rumour", "value": "bankruptcy"},
    ]
    assert domain["actions"].count("action_answer_fact") == 1
    rules = yaml.safe_load((project / "data/rules/factory_sale.yml").read_text())["rules"]
    assert rules[0]["steps"][-1] == {"action": "action_answer_fact"}


async def test_the_fact_action_sends_the_published_fact_or_says_it_is_checking(
    action_store, dispatcher, domain
):
    tracker = make_tracker(
        "fabrika satiliyor mu", "factory_sale", slots={"intent_fact": "bankruptcy"}, language="tr"
    )
    events = await ActionAnswerFact().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_fact_false"
    assert {"event": "slot", "name": "pending", "value": "fact:bankruptcy", "timestamp": None} in [
        {**e, "timestamp": None} for e in events
    ]
    action_store.set_fact_status("bankruptcy", "retired")
    dispatcher.messages.clear()
    await ActionAnswerFact().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_rumour_checking"


def test_refuses_a_fact_that_is_not_published(project, db, store, tmp_path, capsys):
    before = snapshot(project)
    assert add(db, project, tmp_path, SALE, "--fact", "no-such-fact", name="factory_sale") == 2
    assert "fact 'no-such-fact' does not exist" in capsys.readouterr().err
    assert snapshot(project) == before


def test_without_git_the_change_is_only_recorded(tmp_path, db, store):
    project = _copy(tmp_path / "plain", git=False)
    assert add(db, project, tmp_path) == 0
    assert not (project / ".git").exists()
    [change] = changes.list_changes(store)
    assert change["git_commit"] == "" and change["intent"] == "loyalty_points"


@pytest.mark.slow
def test_rasa_data_validate_is_clean_after_all_three_kinds(project, db, demo_store, tmp_path):
    assert add(db, project, tmp_path) == 0
    assert add(db, project, tmp_path, SALE, "--fact", "bankruptcy", name="factory_sale") == 0
    assert add(db, project, tmp_path, PRESS, "--handoff", name="press_inquiry") == 0
    result = subprocess.run(
        [sys.executable, "scripts/validate.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "rasa data validate: clean" in result.stdout


# -- refusals: exit status 2, a reason, nothing written ------------------------------


@pytest.mark.parametrize(
    "name, reason",
    [
        ("greet", "intent 'greet' already exists"),
        ("request_human", "intent 'request_human' already exists"),
        ("restart", "one of Rasa's own intent or action names"),
        ("nlu_fallback", "one of Rasa's own intent or action names"),
        ("action_points", "must not start with 'action_' or 'utter_'"),
        ("button_greet", "response 'utter_button_greet' already exists"),
        ("smalltalk", "data/nlu/smalltalk.yml already exists"),
        ("handoff", "data/rules/handoff.yml already exists"),
        ("language", "already an action or a slot"),
        ("Loyalty-Points", "use 3-48 lower-case letters"),
        ("x", "use 3-48 lower-case letters"),
    ],
)
def test_refuses_a_name_that_clashes(project, db, store, tmp_path, capsys, name, reason):
    before = snapshot(project)
    assert add(db, project, tmp_path, name=name) == 2
    assert reason in capsys.readouterr().err
    assert snapshot(project) == before
    assert _git(project, "status", "--porcelain") == ""
    assert changes.list_changes(store) == []


def test_refuses_fewer_than_ten_training_examples_per_language(project, db, tmp_path, capsys):
    few = {"tr": POINTS["tr"][:11], "en": POINTS["en"][:12]}
    before = snapshot(project)
    assert add(db, project, tmp_path, few) == 2
    err = capsys.readouterr().err
    assert "tr: 11 distinct examples; at least 12 are needed (10 to train on" in err
    assert "en:" not in err
    assert snapshot(project) == before


def test_duplicates_within_the_file_are_dropped_before_counting(project, db, tmp_path, capsys):
    padded = {
        "tr": POINTS["tr"][:11] + ["KUZEY KART PUANLARIM NEREDE GÖRÜNÜYOR?!"],
        "en": POINTS["en"],
    }
    assert add(db, project, tmp_path, padded) == 2
    assert "tr: 11 distinct examples" in capsys.readouterr().err
    plan = intents.plan_intent(project, "loyalty_points", POINTS, handoff=True)
    assert plan.dropped == []


def test_refuses_an_example_another_intent_has_and_names_it(project, db, tmp_path, capsys):
    taken = {"tr": POINTS["tr"][:-1] + ["Canlı destek!"], "en": POINTS["en"]}
    before = snapshot(project)
    assert add(db, project, tmp_path, taken) == 2
    err = capsys.readouterr().err
    assert (
        "tr: 'Canlı destek!' is already 'canli destek' of intent 'request_human'"
        " (data/nlu/request_human.yml)"
    ) in err
    assert snapshot(project) == before


def test_refuses_a_near_duplicate_and_names_the_example_it_is_close_to(
    project, db, tmp_path, capsys
):
    # a typo in request_human's "musteri temsilcisine baglayin", a filler word
    # added to complaint's "my order never arrived and it's been 2 weeks"
    close = {
        "tr": POINTS["tr"][:-1] + ["musteri temsilcisine baglayn"],
        "en": POINTS["en"][:-1] + ["my order never arrived and its been 2 weeks now"],
    }
    before = snapshot(project)
    assert add(db, project, tmp_path, close) == 2
    err = capsys.readouterr().err
    assert (
        "tr: 'musteri temsilcisine baglayn' is nearly the same as"
        " 'musteri temsilcisine baglayin' of intent 'request_human' (data/nlu/request_human.yml)"
        " (characters 0.91, meaning 0.99)"
    ) in err
    assert (
        "en: 'my order never arrived and its been 2 weeks now' is nearly the same as"
        " \"my order never arrived and it's been 2 weeks\" of intent 'complaint'"
    ) in err
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "a, b, differs",
    [
        ("that s right", "that s not right", True),
        ("temsilci istiyorum", "temsilci istemiyorum", True),
        ("siparisim geldi", "siparisim gelmedi", True),
        ("musteri temsilcisine baglayin", "musteri temsilcisine baglayin lutfen", False),
        ("amazing service", "amazing service thanks", False),
    ],
)
def test_a_negation_is_never_a_near_duplicate(a, b, differs):
    assert intents.negation_differs(a, b) is differs


def test_an_example_of_the_evaluation_set_is_refused_without_showing_it(project, db, tmp_path):
    hidden = intents.read_nlu(ROOT / intents.HIDDEN_HELDOUT, intents.HIDDEN_HELDOUT)
    secret = next(e for e in hidden if e.language == "en")
    given = {"tr": POINTS["tr"], "en": POINTS["en"][:-1] + [secret.text]}
    with pytest.raises(intents.Refused) as refused:
        intents.plan_intent(project, "loyalty_points", given, handoff=True)
    [problem] = refused.value.problems
    assert f"an example of intent {secret.intent!r} in the evaluation set" in problem
    assert secret.text not in problem.split(" is ", 1)[1]


def test_reports_every_problem_at_once_and_writes_nothing(project, db, store, tmp_path, capsys):
    mixed = {
        "tr": ["canli destek", "musteri temsilcisine baglayn", *POINTS["tr"][:5]],
        "en": POINTS["en"],
    }
    file = write_examples(tmp_path, mixed)
    before = snapshot(project)
    code = run(
        db, project, "add", "greet", "--examples", str(file), "--author", "Eda K", "--handoff",
        "--fact", "bankruptcy",
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    for reason in (
        "author 'Eda K'",
        "intent 'greet' already exists",
        "give exactly one of",
        "tr: 7 distinct examples",
        "'canli destek' is already",
        "is nearly the same as 'musteri temsilcisine baglayin'",
    ):
        assert reason in err
    assert snapshot(project) == before
    assert changes.list_changes(store) == []


def test_refuses_when_a_file_it_would_commit_has_uncommitted_changes(project, db, tmp_path, capsys):
    domain = project / "domain.yml"
    domain.write_text(domain.read_text(encoding="utf-8") + "# half-done edit\n", encoding="utf-8")
    assert add(db, project, tmp_path) == 2
    assert "domain.yml has uncommitted changes" in capsys.readouterr().err
    assert not (project / "data/nlu/loyalty_points.yml").exists()


def test_the_existing_data_passes_its_own_near_duplicate_check():
    """The thresholds sit above every similarity between examples of different intents."""
    existing = [e for e in intents.project_examples(ROOT) if e.path.startswith("data/")]
    for intent in sorted({e.intent for e in existing}):
        mine = [e.text for e in existing if e.intent == intent]
        others = [e for e in existing if e.intent != intent]
        flagged = [
            (text, found.text)
            for text, (found, _, _) in zip(mine, intents.near_duplicates(mine, others), strict=True)
            if found is not None
        ]
        assert flagged == [], intent


# -- personal data ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("beni 0532 123 45 67 den arayin", "beni <phone> den arayin"),
        ("call me on +90 532 123 4567 please", "call me on <phone> please"),
        ("(0532) 123-45-67 numarali telefonum", "<phone> numarali telefonum"),
        ("mail me at ayse.kaya@example.com.tr", "mail me at <email>"),
        ("kartimdan 4543 1234 5678 9012 iki kez cekildi", "kartimdan <card> iki kez cekildi"),
        ("siparis 12345678 gelmedi", "siparis <order> gelmedi"),
        ("order #AB-123456 is late", "order <order> is late"),
        ("ticket CD-1234, lot L2311A, 2 kg yogurt", "ticket CD-1234, lot L2311A, 2 kg yogurt"),
    ],
)
def test_scrub_replaces_personal_data_with_placeholders(text, expected):
    assert scrub(text)[0] == expected


def test_examples_are_scrubbed_before_they_are_written(project, db, tmp_path, capsys):
    assert add(db, project, tmp_path) == 0
    written = (project / "data/nlu/loyalty_points.yml").read_text(encoding="utf-8")
    written += (project / "heldout/nlu/loyalty_points.yml").read_text(encoding="utf-8")
    assert "0532" not in written and "ayse.kaya" not in written
    assert "<phone> numarama kayıtlı puanlar kayboldu" in written
    assert "the points on my account <email> are gone" in written
    assert "scrubbed: 1 email, 1 phone" in capsys.readouterr().out


# -- the examples file -------------------------------------------------------------


def test_a_text_examples_file_has_one_example_a_line_under_language_lines(project, tmp_path):
    text = "# loyalty points\n[tr]\n" + "\n".join(POINTS["tr"]) + "\n\n[en]\n"
    text += "\n".join(f"- {e}" for e in POINTS["en"]) + "\n"
    path = tmp_path / "points.txt"
    path.write_text(text, encoding="utf-8")
    assert intents.read_examples_file(path) == POINTS | {"en": [f"- {e}" for e in POINTS["en"]]}
    plan = intents.plan_intent(
        project, "loyalty_points", intents.read_examples_file(path), handoff=True
    )
    assert len(plan.training["en"]) == 12 and plan.training["en"][0] == POINTS["en"][0]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("bad.yml", "tr: [a]\nde: [b]\n", "the keys 'tr' and 'en' only"),
        ("bad.yml", "tr: one\n", "'tr' must be a list"),
        ("bad.yml", "tr: [a\n", "not valid YAML"),
        ("bad.txt", "an example\n[tr]\n", "before any [tr] or [en] line"),
        ("bad.txt", "[de]\nein beispiel\n", "unknown language [de]"),
    ],
)
def test_a_malformed_examples_file_is_refused(project, db, tmp_path, capsys, name, content, reason):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code = run(db, project, "add", "loyalty_points", "--examples", str(path), "--handoff")
    assert code == 2
    assert reason in capsys.readouterr().err


# -- listing -----------------------------------------------------------------------


def test_intents_list_counts_examples_per_language_and_held_out(project, db, tmp_path, capsys):
    assert add(db, project, tmp_path) == 0
    capsys.readouterr()
    assert run(db, project, "list", "--json") == 0
    rows = {row["intent"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["loyalty_points"] == {
        "intent": "loyalty_points",
        "in_domain": True,
        "tr": 12,
        "en": 12,
        "heldout_tr": 3,
        "heldout_en": 3,
    }
    greet = [
        e for e in intents.read_nlu(project / "data/nlu/smalltalk.yml", "x") if e.intent == "greet"
    ]
    assert rows["greet"]["tr"] == sum(e.language == "tr" for e in greet) > 0
    assert rows["complaint"]["heldout_en"] > 0  # tests/nlu_heldout.yml
    assert rows["rate_handoff"]["tr"] == 0 and rows["rate_handoff"]["in_domain"]
    assert run(db, project, "list") == 0
    table = capsys.readouterr().out
    assert "loyalty_points" in table.split("\n", 1)[1]


def test_intents_changes_lists_the_record(project, db, tmp_path, capsys):
    assert add(db, project, tmp_path) == 0
    capsys.readouterr()
    assert main(["--db", db, "intents", "changes", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["intent"] == "loyalty_points" and row["author"] == "eda"


def test_add_without_an_examples_file_is_refused(project, db, capsys):
    assert run(db, project, "add", "loyalty_points", "--handoff") == 2
    assert "--examples FILE is required" in capsys.readouterr().err
