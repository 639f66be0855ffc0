"""``ctibridge --local`` against a running local stack, from a shell with no AWS variable at all; the
stack's state file, its removal at stop; the log lines' function names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ctibridge_local import state_file
from tests.support.local_stack import RunningStack, start_stack

ROOT = Path(__file__).resolve().parents[2]
CTIBRIDGE = str(ROOT / ".venv" / "bin" / "ctibridge")


def clean_env(stack: RunningStack, **extra: str) -> dict[str, str]:
    """A user's shell: no AWS_* and no CTIBRIDGE_* variable; only where this stack published itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CTIBRIDGE_"))}
    env[state_file.STATE_ENV] = str(stack.state_path)
    env["HOME"] = str(stack.log_path.parent)  # no ~/.aws either
    return {**env, **extra}


def cli(stack: RunningStack, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CTIBRIDGE, *argv],
        env=clean_env(stack, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_stack_publishes_what_the_cli_needs(stack: RunningStack) -> None:
    assert stack.state_path is not None
    published = state_file.read(stack.state_path)
    assert published.http_url == stack.http_url
    assert published.aws_endpoint_url == stack.moto_url
    assert published.table == stack.table_name
    assert published.callback_url == stack.callback_url
    assert {"DeliveryQueue", "DeliveryDeadLetterQueue", "RecordingQueue"} <= published.queue_urls.keys()


def test_tenant_list_works_with_no_aws_variable(stack: RunningStack) -> None:
    # When a user with no AWS configuration lists tenants with --local
    listed = cli(stack, "--local", "tenant", "list")
    # Then the demo tenant is there, and nothing but the answer is on stdout
    assert listed.returncode == 0, listed.stderr
    assert "demo" in listed.stdout
    assert not [line for line in listed.stdout.splitlines() if line.startswith("{")]


def test_ctibridge_local_from_the_environment_and_several_extensions(stack: RunningStack) -> None:
    listed = cli(stack, "--json", "agent", "list", "demo", "101", "102", CTIBRIDGE_LOCAL="1")
    assert listed.returncode == 0, listed.stderr
    assert [a["ipphone"] for a in json.loads(listed.stdout)] == ["101", "102"]


def test_events_replay_finds_the_stacks_queues(stack: RunningStack) -> None:
    replayed = cli(stack, "--local", "--json", "events", "replay", "--dlq", "--dry-run")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["dry_run"] is True


def test_a_closed_pipe_ends_without_a_traceback(stack: RunningStack) -> None:
    # Given a reader that goes away before the CLI writes (`ctibridge tenant list --json | head -0`)
    process = subprocess.Popen(
        [CTIBRIDGE, "--local", "--json", "tenant", "list"],
        env=clean_env(stack),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    # Then it ends with the shell's code for a closed pipe, and says nothing on stderr
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in process.stderr.read()


def test_pbx_simulate_reaches_the_stack_and_log_lines_name_their_function(stack: RunningStack) -> None:
    already = len(stack.logs())
    # When the PBX simulator plays a call through --local (no --http-url: the stack's own)
    played = cli(stack, "--local", "pbx", "simulate", "--scenario", "answered", "--api-key", "demo-api-key")
    assert played.returncode == 0, played.stdout + played.stderr
    # Then every Powertools line the stack wrote meanwhile names its function, and the webhook's own
    # lines name the webhook function, never a queue consumer running beside it
    lines: list[dict[str, Any]] = []
    for text in stack.logs()[already:].splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if "level" in line and "message" in line:
                lines.append(line)
    assert lines, "no log line was written"
    assert [line for line in lines if not line.get("function_name")] == []
    stored = [line for line in lines if line["message"] in ("pbx event stored", "pbx event duplicate")]
    assert stored
    assert {line["function_name"] for line in stored} == {"PbxWebhookFunction"}


def test_a_stopped_stack_removes_its_state_and_the_cli_says_so(tmp_path: Path) -> None:
    # Given a stack of its own
    own = start_stack(tmp_path, "--no-seed")
    assert own.state_path is not None
    assert own.state_path.exists()
    # When it is stopped as Ctrl-C does
    own.process.send_signal(signal.SIGINT)
    assert own.process.wait(timeout=30) == 0
    # Then its state file is gone, and --local says no stack runs
    assert not own.state_path.exists()
    answer = cli(own, "--local", "tenant", "list")
    assert answer.returncode == 5
    assert "NO_LOCAL_STACK" in answer.stderr
    assert "make dev" in answer.stderr


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_either_region_variable_is_enough(stack: RunningStack, variable: str) -> None:
    # Without --local, the CLI is configured the AWS way (endpoint, credentials, region): AWS_REGION
    # alone is honoured as well as AWS_DEFAULT_REGION
    env = {
        "AWS_ENDPOINT_URL": stack.moto_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        variable: "us-east-1",
    }
    listed = cli(stack, "--table", stack.table_name, "tenant", "list", **env)
    assert listed.returncode == 0, listed.stderr
    assert "demo" in listed.stdout
