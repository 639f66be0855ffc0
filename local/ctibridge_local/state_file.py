"""What a running local stack publishes about itself, for ``ctibridge --local`` and the README's tests.

The stack writes a small JSON file when it is ready (URLs, region, dummy credentials, table, stage,
queue URLs) and removes it when it stops. The CLI reads it, so that ``ctibridge --local tenant list``
needs no AWS variable at all. The file is ``.ctibridge-local.json`` at the repository's root (where
``make dev`` runs), or the path in ``CTIBRIDGE_LOCAL_STATE``: tests and benchmarks start their own stacks
with their own file, so they never replace or remove the one of a ``make dev`` running beside them.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ctibridge_local.template import PROJECT_ROOT

STATE_ENV = "CTIBRIDGE_LOCAL_STATE"
DEFAULT_STATE_PATH = PROJECT_ROOT / ".ctibridge-local.json"
# moto accepts any credentials; botocore only needs some to sign with.
DUMMY_ACCESS_KEY_ID = "local"
DUMMY_SECRET_ACCESS_KEY = "local"  # moto's, not a secret


class NoLocalStack(Exception):
    """No local stack is running (no state file, or its process is gone)."""


@dataclass(frozen=True)
class LocalStackState:
    pid: int
    http_url: str
    ws_url: str
    callback_url: str  # the @connections endpoint's base: the stack's WebSocketCallbackUrl
    web_url: str
    pbx_url: str
    aws_endpoint_url: str  # moto itself (never the fault proxy): what an operator's CLI talks to
    region: str
    table: str
    stage: str
    queue_urls: dict[str, str] = field(default_factory=dict)  # by the template's logical id
    access_key_id: str = DUMMY_ACCESS_KEY_ID
    secret_access_key: str = DUMMY_SECRET_ACCESS_KEY

    def aws_environment(self) -> dict[str, str]:
        """The variables boto3 reads to reach this stack's moto (region under both names)."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


def state_path() -> Path:
    """Where the state file is: ``CTIBRIDGE_LOCAL_STATE``, else the repository's root."""
    configured = os.environ.get(STATE_ENV)
    return Path(configured) if configured else DEFAULT_STATE_PATH


def write(state: LocalStackState, path: Path | None = None) -> Path:
    """Publish ``state`` atomically (a reader never sees half a file)."""
    target = path or state_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(temporary, target)
    return target


def remove(pid: int, path: Path | None = None) -> None:
    """Remove the state file if it is still this process's (a newer stack may have replaced it)."""
    target = path or state_path()
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
        if json.loads(target.read_text())["pid"] == pid:
            target.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read(path: Path | None = None) -> LocalStackState:
    """The running stack's state; :class:`NoLocalStack` when none runs."""
    target = path or state_path()
    try:
        document = json.loads(target.read_text())
        state = LocalStackState(**document)
    except FileNotFoundError:
        raise NoLocalStack(
            f"no local stack is running ({target} not found): start it with `make dev`"
        ) from None
    except (ValueError, TypeError) as error:
        raise NoLocalStack(f"{target} is not a local stack's state file ({error})") from None
    if not _alive(state.pid):
        raise NoLocalStack(
            f"the local stack of {target} (pid {state.pid}) is no longer running: start it with `make dev`"
        )
    return state
