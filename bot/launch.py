"""Starts crisisdesk's processes with the right settings and no secret on a command line.

    python -m bot.launch check             the start-up banner; fails on a weak RASA_TOKEN
    python -m bot.launch rasa [ARGS]       the Rasa server with the HTTP API (Procfile)
    python -m bot.launch actions [ARGS]    the action server (Procfile)
    python -m bot.launch shell [ARGS]      `rasa shell` (make shell)
    python -m bot.launch desk              the desk web app on DESK_PORT (Procfile)

Settings come from the process environment first; `.env` only fills the names the
environment does not set (the same rule as `bot/config.py`). Rasa runs in this
process, through its own command-line entry point with an argv built here, so
RASA_TOKEN reaches it in memory: `ps` and /proc/PID/cmdline show only the
launcher's own, secret-free arguments. Relative paths are from the working
directory, as with `rasa` itself (make and honcho run in the project folder).
ARGS go to Rasa after the defaults (`--model`, `--endpoints`, `--port`...): later
options win.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, MutableMapping, Sequence

from bot.config import PROJECT_ROOT, Settings, read_env_file

# RASA_TOKEN is the HS256 key of the JWTs that open the HTTP API (pause, resume,
# trackers, model load). RFC 7518 section 3.2 asks for a key of at least 256 bits,
# and PyJWT warns below 32 bytes; `make run` generates 48 hex characters.
MIN_TOKEN_LENGTH = 32
MODEL = "models/crisisdesk.tar.gz"


def live_model(cfg: Settings) -> str:
    """The model Rasa starts with: the live promotion's file, else MODEL.

    A model a trainer promoted (`crisisdesk model promote`, or the desk) stays live
    across restarts: the newest promotion not rolled back, when its file is still
    there. Without one (or without a store yet) it is `make train`'s MODEL.
    """
    path = Path(cfg.db_path)
    if not path.is_file():
        return MODEL
    from bot.store import Store

    store = Store.open(path)
    try:
        row = store.live_promotion()
    finally:
        store.close()
    if row and Path(row["model_file"]).is_file():
        return str(row["model_file"])
    return MODEL

HOW_TO_FIX = (
    "To fix it, put a long random value in .env, e.g. the output of\n"
    "  .venv/bin/python -c 'import secrets; print(secrets.token_hex(24))'\n"
    "as RASA_TOKEN=<that value>. (`make run` generates one itself only when it creates .env,\n"
    "i.e. when there is no .env yet: moving .env away makes it write a fresh one from\n"
    ".env.example.)"
)


def fill_environ(
    environ: MutableMapping[str, str] | None = None, env_file: Path | None = None
) -> List[str]:
    """Copies `.env` values into `environ` for the names it does not set; returns those names."""
    environ = os.environ if environ is None else environ
    filled = []
    for name, value in read_env_file(env_file or PROJECT_ROOT / ".env").items():
        if name not in environ:
            environ[name] = value
            filled.append(name)
    return filled


def token_problem(token: str, source: str | None) -> str | None:
    """Why `token` cannot protect the HTTP API (None when it can); never quotes the token.

    `source` is where the value came from: "the environment", ".env" or None (nowhere).
    """
    if source is None:
        problem = "RASA_TOKEN is not set (neither in the environment nor in .env)"
    elif not token:
        problem = f"RASA_TOKEN is empty (in {source})"
    elif len(token) < MIN_TOKEN_LENGTH:
        problem = (
            f"RASA_TOKEN (from {source}) has {len(token)} characters; "
            f"at least {MIN_TOKEN_LENGTH} are needed"
        )
    else:
        return None
    problem += ", so the Rasa HTTP API would be open or guessable."
    if source == "the environment":
        return (
            f"{problem} Unset it (then .env's value is used) or export a random value "
            f"of at least {MIN_TOKEN_LENGTH} characters."
        )
    return f"{problem}\n{HOW_TO_FIX}"


def rasa_argv(cfg: Settings, extra: Sequence[str] = ()) -> List[str]:
    """`rasa run` with the channels and the HTTP API (JWTs signed with RASA_TOKEN only)."""
    return [
        "rasa",
        "run",
        "--enable-api",
        "--jwt-secret",
        cfg.rasa_token,
        "--jwt-method",
        "HS256",
        "--port",
        str(cfg.rasa_port),
        "--model",
        live_model(cfg),
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
        *extra,
    ]


def actions_argv(cfg: Settings, extra: Sequence[str] = ()) -> List[str]:
    """`rasa run actions` for the actions package on ACTIONS_PORT."""
    return [
        "rasa",
        "run",
        "actions",
        "--actions",
        "actions",
        "--port",
        str(cfg.actions_port),
        *extra,
    ]


def shell_argv(cfg: Settings, extra: Sequence[str] = ()) -> List[str]:
    """`rasa shell` (no HTTP API, so no token needed)."""
    port = ["--port", str(cfg.rasa_port)]  # rasa shell runs its own server there
    model = live_model(cfg)
    return ["rasa", "shell", *port, "--model", model, "--endpoints", "endpoints.yml", *extra]


def banner(cfg: Settings) -> str:
    """What `make run` prints before starting, from the settings (not from sourcing .env)."""
    rest = f"localhost:{cfg.rasa_port}/webhooks/rest/webhook"
    return "\n".join(
        [
            "",
            "crisisdesk is starting (the Rasa server takes ~20 s to load):",
            f'  talk to the bot:  curl -s {rest} -d \'{{"sender":"me","message":"merhaba"}}\'',
            f"  Rasa HTTP API:    http://localhost:{cfg.rasa_port} (JWT signed with RASA_TOKEN,"
            " see README)",
            f"  action server:    http://localhost:{cfg.actions_port}",
            f"  model:            {live_model(cfg)}",
            f"  the desk:         http://localhost:{cfg.desk_port} (agents, editors, admins;"
            " sign in at /login)",
            "  channels (WhatsApp and Telegram are on when their settings are in .env):",
        ]
    )


def _run_rasa(argv: List[str]) -> int:
    """Runs Rasa's own command line in this process with `argv` (sys.argv only, not /proc)."""
    from rasa.__main__ import main

    sys.argv = argv
    try:
        main()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def run_desk(cfg: Settings) -> int:
    """Serves the desk (bot/desk/app.py) with uvicorn on DESK_HOST:DESK_PORT."""
    import uvicorn

    from bot.desk.app import create_app

    uvicorn.run(
        create_app(cfg),
        host=cfg.desk_host,
        port=cfg.desk_port,
        log_level=cfg.log_level.lower(),
        server_header=False,
        # No websockets in the desk (SSE instead); Rasa pins an older `websockets`
        # that uvicorn's websocket protocols cannot load.
        ws="none",
    )
    return 0


def main(argv: Sequence[str] | None = None, environ: Dict[str, str] | None = None) -> int:
    """Runs one launcher command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("check", "rasa", "actions", "shell", "desk"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(
            "usage: python -m bot.launch check|rasa|actions|shell|desk [rasa options]",
            file=sys.stderr,
        )
        return 2
    command, extra = args[0], args[1:]
    env = os.environ if environ is None else environ
    source = "the environment" if "RASA_TOKEN" in env else None
    if "RASA_TOKEN" in fill_environ(env):
        source = ".env"
    cfg = Settings.from_env(env)
    # endpoints.yml reads ${ACTIONS_PORT}: give it the default when nothing sets it.
    env.setdefault("ACTIONS_PORT", str(cfg.actions_port))
    env.setdefault("RASA_PORT", str(cfg.rasa_port))
    if command in ("check", "rasa"):
        problem = token_problem(cfg.rasa_token, source)
        if problem:
            print(f"crisisdesk: not starting: {problem}", file=sys.stderr)
            return 2
    if command == "check":
        print(banner(cfg))
        return 0
    if command == "desk":
        return run_desk(cfg)
    build = {"rasa": rasa_argv, "actions": actions_argv, "shell": shell_argv}[command]
    return _run_rasa(build(cfg, extra))


if __name__ == "__main__":
    sys.exit(main())
