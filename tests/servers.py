"""Starting real Rasa and action servers on free loopback ports (tests and benchmarks)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import requests

from bot.rasa_api import auth_headers

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Polls `check` until it returns something true, and returns it; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serving_desk(app: Any) -> Iterator[str]:
    """A desk app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",  # Rasa pins an older websockets; the desk uses none
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the desk did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_until_up(
    url: str, process: subprocess.Popen, log: Path, timeout: float = 180, secret: str = ""
) -> None:
    """Polls `url` until it answers 200; fails with the server's log if it dies.

    With `secret`, each poll carries a JWT signed with it (Rasa's HTTP API).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, headers=auth_headers(secret), timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    """One server process of a `Bot`, and how to start it again (same port, same stores)."""

    args: list
    env: Dict[str, str]
    log: Path
    cwd: Path
    health_url: str
    secret: str = ""
    process: subprocess.Popen | None = None

    def start(self, append: bool = False) -> None:
        """Spawns the process (`append`: keep the log of earlier runs)."""
        self.process = _spawn(self.args, self.env, self.log, self.cwd, append=append)

    def wait_until_up(self) -> None:
        """Returns when the server answers its health URL; fails with its log if it dies."""
        assert self.process is not None
        wait_until_up(self.health_url, self.process, self.log, secret=self.secret)

    def stop(self, kill: bool = False) -> None:
        """Stops the process: SIGTERM (a clean shutdown), or SIGKILL with `kill` (a crash)."""
        if self.process is None:
            return
        if kill and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        _stop(self.process)


@dataclass
class Bot:
    """A running Rasa server (REST channel, HTTP API) with its action server.

    `stop("rasa")` / `start("rasa")` (or "actions") stop one server and start it
    again on the same port with the same tracker store and event broker.
    """

    rasa_url: str
    actions_url: str
    token: str
    db_path: Path
    env: Dict[str, str]
    pids: Dict[str, int]
    events_db: Path | None = None
    servers: Dict[str, Server] = field(default_factory=dict, repr=False)

    def stop(self, name: str, kill: bool = False) -> None:
        """Stops one server ("rasa" or "actions"); `kill` sends SIGKILL, as a crash would."""
        self.servers[name].stop(kill=kill)

    def start(self, name: str) -> None:
        """Starts a stopped server again (same port, stores and log); returns once it is up."""
        server = self.servers[name]
        assert server.process is None or server.process.poll() is not None, f"{name} is running"
        server.start(append=True)
        server.wait_until_up()
        assert server.process is not None
        self.pids[name] = server.process.pid

    def say(self, sender: str, message: str, timeout: float = 30) -> list:
        """Sends one message through the REST channel; returns the bot's replies."""
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str) -> dict:
        """The conversation's tracker from the HTTP API (JWT signed with the token)."""
        response = requests.get(
            f"{self.rasa_url}/conversations/{sender}/tracker",
            headers=auth_headers(self.token),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


def _spawn(
    args: list, env: Dict[str, str], log: Path, cwd: Path = ROOT, append: bool = False
) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=log.open("a" if append else "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_bot(
    workdir: Path,
    model: Path,
    db_path: Path | None = None,
    with_actions: bool = True,
    extra_env: Dict[str, str] | None = None,
    project: Path = ROOT,
    credentials: Path | None = None,
) -> Iterator[Bot]:
    """Starts the action server and the Rasa server; stops both afterwards.

    Both start as `make run` starts them, through `bot/launch.py`, so the token
    is never on a command line; each run gets a fresh random RASA_TOKEN.

    `extra_env` is added to both servers' environment (e.g. channel settings);
    `credentials` replaces the project's credentials.yml (which channels are loaded).
    """
    if not model.is_file():
        raise RuntimeError(f"no trained model at {model}: run `make train` first")
    workdir.mkdir(parents=True, exist_ok=True)
    rasa_port, actions_port = free_port(), free_port()
    token = secrets.token_hex(16)
    db_path = db_path or workdir / "crisisdesk.db"
    env = {
        **os.environ,
        "CRISISDESK_DB": str(db_path),
        "ACTIONS_PORT": str(actions_port),
        "RASA_PORT": str(rasa_port),
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "RASA_TOKEN": token,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # The servers' own INFO lines are what log tests read; a benchmark module
        # imported by a test (scripts/bench_nlu.py) sets LOG_LEVEL=ERROR in this process.
        "LOG_LEVEL": "INFO",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        **(extra_env or {}),
    }
    (workdir / "tracker.db").unlink(missing_ok=True)  # every run starts with no conversations
    events_db = workdir / "rasa_events.db"  # Rasa's SQL event broker (the desk's live feed)
    events_db.unlink(missing_ok=True)
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        (
            "action_endpoint:\n"
            f"  url: http://127.0.0.1:{actions_port}/webhook\n"
            "  enable_selective_domain: true\n"
            if with_actions
            else ""
        )
        + ("nlg:\n  type: bot.nlg.BilingualNLG\n" if project == ROOT else "")
        + "tracker_store:\n  type: SQL\n  dialect: sqlite\n"
        + f"  db: {workdir / 'tracker.db'}\n"
        + "event_broker:\n  type: SQL\n  dialect: sqlite\n"
        + f"  db: {events_db}\n",
        encoding="utf-8",
    )
    servers: Dict[str, Server] = {}
    if with_actions:
        servers["actions"] = Server(
            [sys.executable, "-m", "bot.launch", "actions", "--port", str(actions_port)],
            env,
            workdir / "actions.log",
            ROOT,
            f"http://127.0.0.1:{actions_port}/health",
        )
    servers["rasa"] = Server(
        [
            sys.executable,
            "-m",
            "bot.launch",
            "rasa",
            "--port",
            str(rasa_port),
            "--model",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials or project / "credentials.yml"),
        ],
        env,
        workdir / "rasa.log",
        project,
        f"http://127.0.0.1:{rasa_port}/status",
        secret=token,
    )
    try:
        for server in servers.values():  # the action server first, as `make run` does
            server.start()
        for server in servers.values():
            server.wait_until_up()
        pids = {name: server.process.pid for name, server in servers.items() if server.process}
        yield Bot(
            f"http://127.0.0.1:{rasa_port}",
            f"http://127.0.0.1:{actions_port}",
            token,
            db_path,
            env,
            pids,
            events_db,
            servers,
        )
    finally:
        for server in reversed(list(servers.values())):
            server.stop()
