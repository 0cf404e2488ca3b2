"""`eibench scenarios generate` over real HTTP backends (local fake servers, no network)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_generate import ANCHORS, WORST, personas

from eibench.cli.main import cli
from eibench.scenarios import read_pack

from fakes import FakeAnthropicServer, FakeOpenAIServer, Fault


def script(request) -> str:
    text = request.last_user_text
    if "[step 1 of 3" in text:
        return json.dumps(personas(len(text) % 97))
    return json.dumps(ANCHORS if "[step 2 of 3" in text else WORST)


@pytest.mark.parametrize("provider, server_cls", [("openai", FakeOpenAIServer),
                                                  ("anthropic", FakeAnthropicServer)])
def test_generate_over_http(tmp_path, monkeypatch, provider, server_cls):
    monkeypatch.setenv(f"{provider.upper()}_API_KEY", "sk-test")
    out = tmp_path / "drafts" / "defense.jsonl"
    with server_cls(script) as server:
        server.fail_next(Fault("status", status=429, retry_after=0.01))
        result = CliRunner().invoke(cli, [
            "scenarios", "generate", "--model", f"{provider}:some-model", "--base-url",
            server.url, "--scene", "defense", "--n", "2", "--out", str(out),
            "--pack-examples", "starter", "--concurrency", "2", "--json"])
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["accepted"] == 2 and summary["rejected"] == 0
    assert summary["usage"]["calls"] == 6
    assert len(requests) == 7  # one 429, retried
    first = requests[-6].body
    if provider == "openai":
        assert first["response_format"]["json_schema"]["name"] in ("personas", "anchors",
                                                                   "worst_case")
    else:
        assert first["tool_choice"]["type"] == "tool"
    (tmp_path / "pack" / "train").mkdir(parents=True)
    out.rename(tmp_path / "pack" / "train" / "defense.jsonl")
    pack = read_pack(str(tmp_path / "pack"))
    assert len(pack.scenarios) == 2 and not pack.problems
