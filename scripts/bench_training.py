"""`make bench` (trainers): the time from a new intent to the running bot answering it.

On a git copy of the project (var/bench/training/project; the real data/ and
models/ are never touched), with the live model the project's own
models/crisisdesk.tar.gz (config.yml, the current data) loaded in a real Rasa
server and action server:

1. `crisisdesk intents add donation_request` with tests/donation_request.yml
   (20 examples per language; 4 of each held out);
2. `crisisdesk model train` with the FULL config.yml;
3. `crisisdesk model evaluate` against the live model (held-out set and the
   out-of-domain dev sets, as the gate uses them);
4. `crisisdesk model promote` into the running server (PUT /model), then until the
   server's parse of a new sentence is the new intent.

Prints each step's seconds, the total, and the F1 table the gate printed. When the
gate refuses, it says so, prints the table with the regressed intents, and
measures the other way live: an admin's `promote --force` (audited). Every wait
is a condition with a timeout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cli import main as crisisdesk  # noqa: E402
from bot.rasa_api import RasaClient  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.training import models  # noqa: E402
from tests.projects import copy_project  # noqa: E402
from tests.servers import running_bot, wait_for  # noqa: E402

WORK = ROOT / "var/bench/training"
INTENT = "donation_request"
EXAMPLES = ROOT / "tests/donation_request.yml"
# Not in the examples file: the bot must generalise to it.
PROBE = "kuzey sut olarak festivalimize sponsor olur musunuz"


def run(*args: str) -> tuple[int, str, float]:
    """One crisisdesk command in this process; (exit status, its output, seconds)."""
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = crisisdesk(list(args))
    return code, out.getvalue(), round(time.perf_counter() - started, 1)


def main() -> int:
    """Runs the four steps once; prints the timings and the gate's F1 table."""
    live_source = ROOT / models.DEFAULT_LIVE
    if not live_source.is_file():
        sys.exit(f"no model at {live_source}: run `make train` first")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    root = copy_project(WORK / "project")
    live = root / models.DEFAULT_LIVE
    live.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(live_source, live)
    db = WORK / "crisisdesk.db"
    store = Store.open(db)
    store.create_user("benchadmin", "admin", "not-a-login")  # may force past the gate
    store.close()
    common = ["--db", str(db)]
    with running_bot(WORK / "servers", live) as bot:
        os.environ["RASA_TOKEN"] = bot.token  # the CLI reads it like `make run` does
        client = RasaClient(bot.rasa_url, bot.token)
        before = client.parse(PROBE)["intent"]["name"]
        steps = {}
        started = time.perf_counter()
        code, _, steps["add"] = run(
            *common, "intents", "add", INTENT, "--examples", str(EXAMPLES),
            "--response-tr", "Bağış ve sponsorluk için web sitemizdeki Destek Başvurusu formunu"
            " doldurun.",
            "--response-en", "For donations and sponsorship, please fill in the Support Request"
            " form on our website.",
            "--author", "bench", "--project", str(root),
        )  # fmt: skip
        assert code == 0, "intents add refused"
        code, _, steps["train"] = run(*common, "model", "train", "--project", str(root))
        assert code == 0, "training failed"
        server = ["--rasa-url", bot.rasa_url, "--project", str(root)]
        code, report_text, steps["evaluate"] = run(*common, "model", "evaluate", *server)
        assert code == 0, "evaluation failed"
        code, _, steps["promote"] = run(*common, "model", "promote", "--as", "bench", *server)
        passed = code == 0
        if not passed:
            # Measured anyway, and said so: an admin forcing it is the other way live.
            code, _, steps["promote --force"] = run(
                *common, "model", "promote", "--force", "--as", "benchadmin", *server
            )
            assert code == 0, "forced promotion failed"
        live_at = time.perf_counter()
        answered = wait_for(
            lambda: client.parse(PROBE)["intent"]["name"], timeout=60, what="the server's parse"
        )
        steps["first parse"] = round(time.perf_counter() - live_at, 1)
        total = round(time.perf_counter() - started, 1)
    print("bench_training: add an intent (20 examples per language) and get it live")
    print(report_text.rstrip())
    print()
    for step, seconds in steps.items():
        print(f"  {step:<16} {seconds:>7.1f} s")
    how = "the gate passed" if passed else "the gate REFUSED it; promoted with --force by an admin"
    print(f"  {'total':<16} {total:>7.1f} s  ({how})")
    print(f"  probe {PROBE!r}: {before} before, {answered} after")
    print(
        json.dumps(
            {
                "bench": "training",
                "seconds": steps,
                "total_seconds": total,
                "gate_passed": passed,
                "probe_after": answered,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
