"""bot/launch.py: the environment wins over .env, weak tokens stop `make run`, no token in ps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import bot.launch as launch
from bot.config import Settings
from bot.rasa_api import auth_headers
from tests.conftest import ROOT
from tests.servers import running_bot

GOOD = "0123456789abcdef0123456789abcdef0123"


def test_env_file_fills_only_names_the_environment_does_not_set(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("RASA_PORT=6002\nRASA_TOKEN=from-file\nLOG_LEVEL=DEBUG\nEMPTY_HERE=x\n")
    environ = {"RASA_PORT": "6001", "EMPTY_HERE": ""}
    filled = launch.fill_environ(environ, env_file)
    assert sorted(filled) == ["LOG_LEVEL", "RASA_TOKEN"]
    # Set in the environment, even to "", means set: .env does not override it.
    assert environ == {
        "RASA_PORT": "6001",
        "EMPTY_HERE": "",
        "RASA_TOKEN": "from-file",
        "LOG_LEVEL": "DEBUG",
    }


def test_no_env_file_changes_nothing(tmp_path):
    environ = {"A": "1"}
    assert launch.fill_environ(environ, tmp_path / "missing") == []
    assert environ == {"A": "1"}


@pytest.mark.parametrize(
    ("token", "source", "expected"),
    [
        ("", None, "RASA_TOKEN is not set"),
        ("", ".env", "RASA_TOKEN is empty (in .env)"),
        ("", "the environment", "RASA_TOKEN is empty (in the environment)"),
        ("short-secret", ".env", "has 12 characters; at least 32 are needed"),
        ("x" * 31, "the environment", "has 31 characters; at least 32 are needed"),
    ],
)
def test_weak_token_is_refused_with_the_reason_and_the_fix(token, source, expected):
    problem = launch.token_problem(token, source)
    assert expected in problem
    assert ("Unset it" in problem) == (source == "the environment")
    assert ("secrets.token_hex" in problem) == (source != "the environment")
    if token:
        assert token not in problem


def test_long_token_is_accepted():
    assert launch.token_problem("x" * 32, ".env") is None


@pytest.fixture
def project(tmp_path, monkeypatch):
    """bot.launch reading its .env from a temporary project folder."""
    monkeypatch.setattr(launch, "PROJECT_ROOT", tmp_path)
    return tmp_path


def test_check_prints_the_banner_from_settings_environment_first(project, capsys):
    (project / ".env").write_text(f"RASA_PORT=6002\nACTIONS_PORT=6003\nRASA_TOKEN={GOOD}\n")
    environ = {"RASA_PORT": "6001"}
    assert launch.main(["check"], environ) == 0
    out = capsys.readouterr().out
    assert "curl -s localhost:6001/webhooks/rest/webhook" in out
    assert "action server:    http://localhost:6003" in out
    assert GOOD not in out


def test_check_refuses_a_short_token_from_env_file_without_printing_it(project, capsys):
    (project / ".env").write_text("RASA_TOKEN=abc123secret\n")
    assert launch.main(["check"], {}) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "not starting: RASA_TOKEN (from .env) has 12 characters" in err
    assert "abc123secret" not in err


def test_rasa_refuses_to_start_before_importing_rasa(project, capsys, monkeypatch):
    started = []
    monkeypatch.setattr(launch, "_run_rasa", started.append)
    assert launch.main(["rasa"], {"RASA_TOKEN": ""}) == 2
    assert started == []
    assert "RASA_TOKEN is empty (in the environment)" in capsys.readouterr().err


def test_rasa_gets_the_token_as_jwt_secret_in_process(project, monkeypatch):
    (project / ".env").write_text(f"RASA_TOKEN={GOOD}\nRASA_PORT=6002\n")
    started = []
    monkeypatch.setattr(launch, "_run_rasa", lambda argv: started.append(argv) or 0)
    assert launch.main(["rasa", "--model", "m.tar.gz"], {"RASA_PORT": "6001"}) == 0
    [argv] = started
    assert argv[:3] == ["rasa", "run", "--enable-api"]
    assert argv[argv.index("--jwt-secret") + 1] == GOOD
    assert "--auth-token" not in argv  # no ?token= accepted by the HTTP API
    assert argv[argv.index("--port") + 1] == "6001"
    assert argv[-2:] == ["--model", "m.tar.gz"]  # given options come last and win


def test_actions_and_shell_need_no_token(project, monkeypatch):
    started = []
    monkeypatch.setattr(launch, "_run_rasa", lambda argv: started.append(argv) or 0)
    assert launch.main(["actions"], {"ACTIONS_PORT": "6100"}) == 0
    assert launch.main(["shell"], {}) == 0
    assert started[0] == ["rasa", "run", "actions", "--actions", "actions", "--port", "6100"]
    assert started[1][:2] == ["rasa", "shell"]
    assert not any("--jwt" in arg or "--auth-token" in arg for argv in started for arg in argv)


def test_ports_for_endpoints_yml_are_set_even_when_nothing_sets_them(project, monkeypatch):
    monkeypatch.setattr(launch, "_run_rasa", lambda argv: 0)
    environ = {"RASA_TOKEN": GOOD}
    assert launch.main(["rasa"], environ) == 0
    assert (environ["ACTIONS_PORT"], environ["RASA_PORT"]) == ("5055", "5005")
    assert "${ACTIONS_PORT}" in (ROOT / "endpoints.yml").read_text()


def test_unknown_command_is_a_usage_error(capsys):
    assert launch.main(["serve"], {}) == 2
    assert "usage: python -m bot.launch" in capsys.readouterr().err


def test_refusal_as_a_real_process():
    env = {"PATH": os.environ["PATH"], "RASA_TOKEN": "tiny"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.launch", "rasa"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "RASA_TOKEN (from the environment) has 4 characters" in done.stderr


def test_procfile_starts_everything_through_the_launcher_with_no_variables():
    procfile = (ROOT / "Procfile").read_text()
    commands = dict(line.split(": ", 1) for line in procfile.splitlines() if line.strip())
    assert commands == {
        "rasa": ".venv/bin/python -m bot.launch rasa",
        "actions": ".venv/bin/python -m bot.launch actions",
        "desk": ".venv/bin/python -m bot.launch desk",
    }


def test_make_never_sources_env_and_honcho_reads_no_env_file():
    run = subprocess.run(
        ["make", "-n", "run", "shell"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    makefile = (ROOT / "Makefile").read_text()
    assert "source .env" not in makefile and ". .env" not in makefile
    assert "export RASA_PORT" not in makefile and "export ACTIONS_PORT" not in makefile
    assert ".venv/bin/python -m bot.launch check" in run
    assert "honcho start -f Procfile --env /dev/null" in run
    assert run.index("bot.launch check") < run.index("honcho start")
    assert ".venv/bin/python -m bot.launch shell" in run


def test_settings_match_what_the_launcher_fills(project):
    (project / ".env").write_text("RASA_PORT=6002\nACTIONS_PORT=6003\n")
    environ = {"RASA_PORT": "6001"}
    launch.fill_environ(environ)
    cfg = Settings.from_env(environ)
    assert (cfg.rasa_port, cfg.actions_port) == (6001, 6003)


@pytest.mark.slow
def test_token_is_in_no_command_line_and_only_jwts_open_the_api(tmp_path):
    with running_bot(tmp_path, ROOT / "models/crisisdesk.tar.gz") as bot:
        listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        lines = {int(line.split(None, 1)[0]): line for line in listing.splitlines()[1:]}
        assert "bot.launch rasa" in lines[bot.pids["rasa"]]
        assert "bot.launch actions" in lines[bot.pids["actions"]]
        assert bot.token not in listing
        for pid in bot.pids.values():
            assert bot.token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        status = f"{bot.rasa_url}/status"
        assert requests.get(status, timeout=10).status_code == 401
        assert requests.get(status, params={"token": bot.token}, timeout=10).status_code == 401
        wrong = auth_headers("a-different-secret-that-is-long-enough")
        assert requests.get(status, headers=wrong, timeout=10).status_code == 401
        assert requests.get(status, headers=auth_headers(bot.token), timeout=10).status_code == 200
        assert bot.tracker("nobody-yet")["sender_id"] == "nobody-yet"
    for log in ("rasa.log", "actions.log"):
        assert bot.token not in (tmp_path / log).read_text()


def test_rasa_starts_with_the_live_promoted_model_and_falls_back_after_a_rollback(tmp_path):
    """A promoted model stays live when the servers restart; rolled back or gone, MODEL."""
    from bot.store import Store

    db = tmp_path / "crisisdesk.db"
    cfg = Settings.from_env({"CRISISDESK_DB": str(db), "RASA_TOKEN": GOOD})
    assert launch.live_model(cfg) == launch.MODEL  # no store yet
    promoted = tmp_path / "candidate-20261203-0700.tar.gz"
    promoted.write_bytes(b"a model")
    store = Store.open(db)
    promotion = store.record_promotion(
        model_file=str(promoted),
        previous_file=launch.MODEL,
        promoted_by="ada",
        verdict="passed",
        report={"gate": {"passed": True}},
    )
    argv = launch.rasa_argv(cfg)
    assert argv[argv.index("--model") + 1] == str(promoted)
    assert launch.shell_argv(cfg)[launch.shell_argv(cfg).index("--model") + 1] == str(promoted)
    assert f"model:            {promoted}" in launch.banner(cfg)
    promoted.unlink()  # the file is gone: start with what `make train` built
    assert launch.live_model(cfg) == launch.MODEL
    promoted.write_bytes(b"a model")
    store.mark_rolled_back(promotion, "ada")
    store.close()
    assert launch.live_model(cfg) == launch.MODEL
