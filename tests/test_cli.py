"""The crisisdesk command: facts import/list/publish/retire/match, handoffs, help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from tests.conftest import ROOT

HEADER = "id,topic,claim_tr,claim_en,verdict,answer_tr,answer_en,source_url\n"
OLD_HEADER = "id,topic,claim,verdict,answer_tr,answer_en,source_url\n"


def cli(db, *args):
    return main(["--db", str(db), *args])


def test_import_reports_bad_rows_by_line_and_imports_the_rest(tmp_path, capsys):
    csv_file = tmp_path / "facts.csv"
    csv_file.write_text(
        HEADER
        + 'good,finance,İflas ediyor,"Going bankrupt, they say",false,Hayır.,No.,https://example.org/1\n'
        + "bad-verdict,x,iddia,claim,maybe,a,b,https://example.org/2\n"
        + '"multi\nline",x,iddia,claim,true,a,b,https://example.org/3\n'
        + "no-source,x,iddia,claim,true,a,b,\n"
        + "good2,x,iddia iki,claim two,TRUE,a,b,https://example.org/4\n"
        + "no-turkish,x,,claim three,true,a,b,https://example.org/5\n",
        encoding="utf-8",
    )
    db = tmp_path / "x.db"
    assert cli(db, "facts", "import", str(csv_file)) == 2
    out, err = capsys.readouterr()
    assert "line 3: verdict 'maybe'" in err
    assert "line 4:" in err and "id" in err
    assert "line 6: source_url is empty" in err
    assert "line 8: claim_tr is empty" in err
    assert "2 new, 0 updated, 4 rejected" in out
    assert cli(db, "facts", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"], r["verdict"]) for r in rows] == [
        ("good", "published", "false"),
        ("good2", "published", "true"),
    ]


def test_import_same_id_updates_and_draft_flag(tmp_path, capsys):
    db = tmp_path / "x.db"
    first = tmp_path / "a.csv"
    first.write_text(HEADER + "f,t,eski,old claim,false,a,b,https://e.org/1\n", encoding="utf-8")
    second = tmp_path / "b.csv"
    second.write_text(
        HEADER + "f,t,yeni,new claim,misleading,a,b,https://e.org/1\n", encoding="utf-8"
    )
    assert cli(db, "facts", "import", str(first), "--draft") == 0
    assert cli(db, "facts", "import", str(second), "--draft") == 0
    assert "0 new, 1 updated" in capsys.readouterr().out
    cli(db, "facts", "list", "--json")
    [row] = json.loads(capsys.readouterr().out)
    assert (row["claim_tr"], row["claim_en"], row["verdict"], row["status"]) == (
        "yeni",
        "new claim",
        "misleading",
        "draft",
    )


def test_an_old_file_with_one_claim_column_imports_it_as_claim_en(tmp_path, capsys):
    db = tmp_path / "x.db"
    old = tmp_path / "old.csv"
    old.write_text(OLD_HEADER + "f,t,Going bankrupt.,false,a,b,https://e.org/1\n", encoding="utf-8")
    assert cli(db, "facts", "import", str(old)) == 0
    out, err = capsys.readouterr()
    assert "1 new, 0 updated, 0 rejected" in out
    assert "line 2: warning: no claim_tr column" in err
    cli(db, "facts", "list", "--json")
    [row] = json.loads(capsys.readouterr().out)
    assert (row["claim_tr"], row["claim_en"]) == ("", "Going bankrupt.")


def test_facts_list_shows_both_claims(tmp_path, capsys):
    db = tmp_path / "x.db"
    assert cli(db, "facts", "import", str(ROOT / "data/facts/demo.csv")) == 0
    capsys.readouterr()
    assert cli(db, "facts", "list") == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["id", "status", "verdict", "topic", "claim_tr", "claim_en"]
    layoffs = next(line for line in lines if line.startswith("layoffs-500"))
    assert "Kuzey Süt 500 çalışanını işten çıkarıyor." in layoffs
    assert "Kuzey Süt is laying off 500 workers." in layoffs


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,claim\nx,y\n", "missing: topic,verdict,answer_tr,answer_en,source_url"),
        (
            "id,topic,verdict,answer_tr,answer_en,source_url\nx,t,true,a,b,https://e.org\n",
            "missing: claim_tr,claim_en",
        ),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_unreadable_file_is_a_clean_error(tmp_path, capsys, content, message):
    path = tmp_path / "f.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert cli(tmp_path / "x.db", "facts", "import", str(path)) == 2
    assert message in capsys.readouterr().err


def test_missing_file_and_unknown_fact_are_clean_errors(tmp_path, capsys):
    assert cli(tmp_path / "x.db", "facts", "import", str(tmp_path / "nope.csv")) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli(tmp_path / "x.db", "facts", "publish", "nope") == 2
    assert "no fact with id 'nope'" in capsys.readouterr().err


def test_publish_retire_and_match(tmp_path, capsys):
    db = tmp_path / "x.db"
    assert cli(db, "facts", "import", str(ROOT / "data/facts/demo.csv"), "--draft") == 0
    capsys.readouterr()
    claim = "bleach in your milk?? is it true, my kids drink it"
    assert cli(db, "facts", "match", claim) == 0
    assert json.loads(capsys.readouterr().out)["fact_id"] is None  # drafts never match
    assert cli(db, "facts", "publish", "bleach-in-milk") == 0
    assert "now published" in capsys.readouterr().out
    cli(db, "facts", "match", claim)
    found = json.loads(capsys.readouterr().out)
    assert set(found) == {"fact_id", "score"}
    assert found["fact_id"] == "bleach-in-milk" and isinstance(found["score"], float)
    assert cli(db, "facts", "retire", "bleach-in-milk") == 0
    capsys.readouterr()
    cli(db, "facts", "match", claim)
    assert json.loads(capsys.readouterr().out)["fact_id"] is None


def test_publishing_answers_open_rumours(demo_store, capsys, tmp_path):
    demo_store.set_fact_status("layoffs-500", "draft")
    rid = demo_store.record_rumour(
        "500 isciyi isten cikariyormussunuz dogru mu", "tr", "c1", "rest"
    )
    db_path = demo_store.db.execute("pragma database_list").fetchone()[2]
    assert cli(db_path, "facts", "publish", "layoffs-500") == 0
    out = capsys.readouterr().out
    assert "1 open rumour(s) now answered; 1 customer(s) to follow up" in out
    assert demo_store.list_rumours("answered")[0]["id"] == rid


def test_handoffs_list_and_close_without_rasa_keeps_it_open(demo_store, capsys):
    hid = demo_store.open_handoff(
        sender_id="c1",
        channel="rest",
        reason="asked",
        priority="normal",
        language="tr",
        last_messages=[],
    )
    db_path = demo_store.db.execute("pragma database_list").fetchone()[2]
    assert cli(db_path, "handoffs", "list") == 0
    assert "asked" in capsys.readouterr().out
    code = cli(db_path, "handoffs", "close", str(hid), "--rasa-url", "http://127.0.0.1:9")
    assert code == 1
    assert "stays open" in capsys.readouterr().err
    assert demo_store.get_handoff(hid)["status"] == "waiting"


def test_setup_demo_loads_once(tmp_path, capsys):
    db = tmp_path / "x.db"
    assert cli(db, "setup", "--demo") == 0
    assert "facts: 14 new" in capsys.readouterr().out
    assert cli(db, "setup", "--demo") == 0
    assert "facts:" not in capsys.readouterr().out


def _commands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _commands(sub, prefix + (name,))


@pytest.mark.parametrize("command", list(_commands(build_parser())), ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: crisisdesk" in capsys.readouterr().out


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "crisisdesk"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for group in ("facts", "faq", "rumours", "tickets", "handoffs", "setup"):
        assert group in result.stdout
