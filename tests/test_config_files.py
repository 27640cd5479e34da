"""The project's own endpoints.yml and credentials.yml load the way `make run` uses them."""

from __future__ import annotations

import pytest
from rasa.core.utils import AvailableEndpoints

from tests.conftest import ROOT


def test_endpoints_resolve_the_action_server_port(monkeypatch):
    monkeypatch.setenv("ACTIONS_PORT", "5123")
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml"))
    assert endpoints.action.url == "http://localhost:5123/webhook"
    assert endpoints.nlg.type == "bot.nlg.BilingualNLG"
    assert endpoints.tracker_store.type == "SQL"


@pytest.mark.parametrize("name", ["endpoints.yml", "credentials.yml"])
def test_no_unresolved_variables_remain(monkeypatch, name):
    monkeypatch.setenv("ACTIONS_PORT", "5055")
    from rasa.shared.utils.io import read_config_file

    assert "${" not in str(read_config_file(str(ROOT / name)))
