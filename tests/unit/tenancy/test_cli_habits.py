"""The CLI behaves as shell users expect: several extensions at once, list options that add and remove,
``--kind`` as a choice, no traceback on a closed pipe, no log lines in its output, a clear error when
``--local`` finds no stack."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ctibridge_cli import main as cli
from ctibridge_local import state_file
from tests.unit.tenancy.conftest import STAGE, TABLE


class Run:
    def __init__(self, *argv: str, out: Any = None) -> None:
        self.stdout = out or io.StringIO()
        err = io.StringIO()
        self.code = cli.main(["--table", TABLE, "--stage", STAGE, *argv], out=self.stdout, err=err)
        self.out = self.stdout.getvalue() if isinstance(self.stdout, io.StringIO) else ""
        self.err = err.getvalue()

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def shop(table: Any) -> None:
    created = Run(
        "tenant", "create", "shop1", "--domain", "shop",
        "--allowed-origin", "https://crm.shop.vn", "--allowed-origin", "https://admin.shop.vn",
        "--recording-host", "10.0.0.5:8088",
    )  # fmt: skip
    assert created.code == 0, created.err
    for ipphone in ("101", "102", "103"):
        assert Run("agent", "add", "shop1", ipphone).code == 0


def tenant(field: str) -> Any:
    return Run("--json", "tenant", "show", "shop1").json()["tenant"][field]


def test_agent_commands_take_several_extensions(shop: None) -> None:
    # When the operator updates two agents at once
    updated = Run("--json", "agent", "update", "shop1", "101", "102", "--display-name", "Lan")
    # Then both changed, and the answer lists both in order
    assert updated.code == 0, updated.err
    assert [a["ipphone"] for a in updated.json()] == ["101", "102"]
    # And listing some extensions shows just those
    listed = Run("--json", "agent", "list", "shop1", "101", "102").json()
    assert [(a["ipphone"], a["display_name"]) for a in listed] == [("101", "Lan"), ("102", "Lan")]
    # And removing two leaves the third
    assert Run("agent", "remove", "shop1", "101", "103").code == 0
    assert [a["ipphone"] for a in Run("--json", "agent", "list", "shop1").json()] == ["102"]


def test_agent_list_of_an_unknown_extension_is_not_found(shop: None) -> None:
    missing = Run("agent", "list", "shop1", "101", "999")
    assert missing.code == cli.EXIT_NOT_FOUND
    assert "999" in missing.err


def test_list_options_add_and_remove_without_dropping_the_others(shop: None) -> None:
    # When the operator adds an origin the README's way, and another with --add-
    assert Run("tenant", "update", "shop1", "--allowed-origin", "https://new.shop.vn").code == 0
    assert Run("tenant", "update", "shop1", "--add-allowed-origin", "https://crm.shop.vn").code == 0
    # Then the earlier origins are kept (and a value already there is not doubled)
    assert tenant("allowed_origins") == [
        "https://crm.shop.vn",
        "https://admin.shop.vn",
        "https://new.shop.vn",
    ]
    # When one is removed
    assert Run("tenant", "update", "shop1", "--remove-allowed-origin", "https://admin.shop.vn").code == 0
    assert tenant("allowed_origins") == ["https://crm.shop.vn", "https://new.shop.vn"]
    # And recording hosts and deny prefixes behave alike
    assert Run("tenant", "update", "shop1", "--recording-host", "pbx.lan:8088").code == 0
    assert tenant("recording_hosts_allowed") == ["10.0.0.5:8088", "pbx.lan:8088"]
    Run("tenant", "update", "shop1", "--callout-deny-prefix", "1900", "--callout-deny-prefix", "+841900")
    Run("tenant", "update", "shop1", "--remove-callout-deny-prefix", "1900")
    assert tenant("callout_deny_prefixes") == ["+841900"]


def test_a_whole_list_is_replaced_only_when_asked(shop: None) -> None:
    assert Run("tenant", "update", "shop1", "--replace-allowed-origins", "https://only.shop.vn").code == 0
    assert tenant("allowed_origins") == ["https://only.shop.vn"]
    assert Run("tenant", "update", "shop1", "--replace-recording-hosts").code == 0
    assert tenant("recording_hosts_allowed") == []


def test_kind_is_a_choice_written_with_commas() -> None:
    # The usage line must not hold a shell pipe (`--kind jwt|api|...` pasted as written runs a pipeline)
    usage = cli.build_parser().parse_known_args(["tenant", "rotate-key", "x"])[0]
    assert usage.kind == "jwt"
    parser_help = io.StringIO()
    tenant_parser = cli.build_parser()._subparsers._group_actions[0].choices["tenant"]  # type: ignore[union-attr]
    tenant_parser._subparsers._group_actions[0].choices["rotate-key"].print_help(parser_help)
    assert "--kind {jwt,api,pbx,click2call,crm}" in parser_help.getvalue()
    assert "|" not in parser_help.getvalue()


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_quietly(shop: None) -> None:
    # When the reader of the output went away (`ctibridge tenant list --json | head -1`)
    run = Run("--json", "tenant", "list", out=_ClosedPipe())
    # Then the CLI stops with the shell's code for it and no traceback
    assert run.code == cli.EXIT_CLOSED_PIPE
    assert "Traceback" not in run.err


def test_no_log_line_reaches_the_commands_output(shop: None, capfd: pytest.CaptureFixture[str]) -> None:
    # When a command whose layer code logs runs with the real stdout (tenant expire logs at info)
    code = cli.main(["--table", TABLE, "--stage", STAGE, "--json", "tenant", "expire", "shop1"])
    # Then stdout is the command's JSON answer alone
    out = capfd.readouterr().out
    assert code == 0
    assert json.loads(out)["customer"] == "shop1"


def test_layer_logs_go_to_stderr_and_info_is_silenced(capfd: pytest.CaptureFixture[str]) -> None:
    from ctibridge.observability import logger

    # When layer code logs while a CLI command runs
    with cli._layer_logs_to(__import__("sys").stderr):
        logger.info("tenant expired")
        logger.warning("could not close a tab")
    captured = capfd.readouterr()
    # Then nothing reaches stdout; the warning is on stderr, the info line is not printed
    assert captured.out == ""
    assert "could not close a tab" in captured.err
    assert "tenant expired" not in captured.err


def test_local_without_a_running_stack_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(state_file.STATE_ENV, str(tmp_path / "none.json"))
    err = io.StringIO()
    assert cli.main(["--local", "tenant", "list"], out=io.StringIO(), err=err) == cli.EXIT_AWS
    assert "NO_LOCAL_STACK" in err.getvalue()
    assert "make dev" in err.getvalue()


def test_local_with_a_dead_stacks_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a state file left by a stack that was killed (its pid is gone)
    path = tmp_path / "state.json"
    monkeypatch.setenv(state_file.STATE_ENV, str(path))
    dead = state_file.LocalStackState(
        pid=2**22 + 7, http_url="h", ws_url="w", callback_url="c", web_url="web", pbx_url="p",
        aws_endpoint_url="http://127.0.0.1:1", region="us-east-1", table="t", stage="dev",
    )  # fmt: skip
    state_file.write(dead)
    # When --local is asked through the environment
    monkeypatch.setenv("CTIBRIDGE_LOCAL", "1")
    err = io.StringIO()
    # Then it says the stack is no longer running
    assert cli.main(["tenant", "list"], out=io.StringIO(), err=err) == cli.EXIT_AWS
    assert "no longer running" in err.getvalue()


def test_state_file_round_trip_and_removal_only_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    mine = state_file.LocalStackState(
        pid=os.getpid(), http_url="h", ws_url="w", callback_url="c", web_url="web", pbx_url="p",
        aws_endpoint_url="http://127.0.0.1:1", region="us-east-1", table="t", stage="dev",
        queue_urls={"DeliveryQueue": "http://q"},
    )  # fmt: skip
    state_file.write(mine, path)
    assert state_file.read(path) == mine
    state_file.remove(os.getpid() + 1, path)  # another stack's stop leaves ours
    assert path.exists()
    state_file.remove(os.getpid(), path)
    assert not path.exists()


def test_aws_region_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctibridge_cli import local_target

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
    local_target.honour_aws_region()
    assert os.environ["AWS_DEFAULT_REGION"] == "ap-southeast-1"
