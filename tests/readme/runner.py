"""Runs README blocks as a reader following it top to bottom would, against a local stack.

* ``sh``/``bash``: one terminal session. Each block runs in ``bash`` with ``set -e``, in the
  repository's root, with ``.venv/bin`` first on PATH (as after ``source .venv/bin/activate``), no AWS or
  CTIBRIDGE variable from the test's environment, and the variables the previous blocks exported.
  (No ``pipefail``: ``cmd | head`` may close the pipe early, as in a terminal.)
  ``curl`` fails on an HTTP error (``--fail-with-body``), so a 4xx/5xx answer fails the block.
* ``python``: one interpreter session (the blocks share their names, as in a REPL).
* ``php``: each block alone (``php-cli``; a block without ``<?php`` gets it); any PHP warning fails it.

The stack is started by the test on free ports; the README's default addresses (127.0.0.1:3000,
3001, 8080, 5000, 3002) are rewritten to them, and ``CTIBRIDGE_LOCAL_STATE`` points ``ctibridge --local``
at its state file: the only differences from a reader's ``make dev``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ctibridge_local.state_file import STATE_ENV
from tests.readme.blocks import Block
from tests.support.local_stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT = 120
DEFAULT_PORTS = {"http": 3000, "ws": 3001, "web": 8080, "moto": 5000, "pbx": 3002}


class BlockFailed(AssertionError):
    pass


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


@dataclass
class ReadmeSession:
    stack: RunningStack
    workdir: Path
    python_namespace: dict[str, Any] = field(default_factory=dict)

    @property
    def ports(self) -> dict[int, int]:
        """README port -> the test stack's port."""
        actual = {
            "http": _port(self.stack.http_url),
            "ws": _port(self.stack.ws_url),
            "web": _port(self.stack.web_url),
            "moto": _port(self.stack.moto_url),
            "pbx": _port(self.stack.pbx_url),
        }
        return {DEFAULT_PORTS[name]: port for name, port in actual.items()}

    def localize(self, code: str) -> str:
        for readme_port, port in self.ports.items():
            for host in ("127.0.0.1", "localhost"):
                code = code.replace(f"{host}:{readme_port}", f"{host}:{port}")
        return code

    def run(self, block: Block) -> str:
        code = self.localize(block.code)
        if block.language in ("sh", "bash"):
            return self._shell(block, code)
        if block.language == "python":
            return self._python(block, code)
        if block.language == "php":
            return self._php(block, code)
        raise ValueError(f"not a runnable block: {block.language}")

    # ------------------------------------------------------------------ languages
    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CTIBRIDGE_"))}
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(ROOT / ".venv")
        assert self.stack.state_path is not None
        env[STATE_ENV] = str(self.stack.state_path)
        env.pop("PYTHONPATH", None)
        return env

    def _shell(self, block: Block, code: str) -> str:
        exported = self.workdir / "exported.sh"
        script = "\n".join(
            [
                "set -e",
                f'[ -f "{exported}" ] && source "{exported}"',
                'curl() { command curl --fail-with-body --silent --show-error "$@"; }',
                code,
                f'export -p > "{exported}"',
            ]
        )
        return self._process(block, ["bash", "-c", script])

    def _python(self, block: Block, code: str) -> str:
        try:
            exec(compile(code, f"README.md:{block.line}", "exec"), self.python_namespace)
        except Exception as error:
            raise BlockFailed(f"README.md line {block.line} (python) raised {error!r}\n{code}") from error
        return ""

    def _php(self, block: Block, code: str) -> str:
        source = code if code.lstrip().startswith("<?php") else f"<?php\n{code}"
        path = self.workdir / f"block-{block.line}.php"
        path.write_text(source)
        command = ["php", "-d", "error_reporting=E_ALL", "-d", "display_errors=stderr", str(path)]
        return self._process(block, command, stderr_fails=True)

    def _process(self, block: Block, command: list[str], *, stderr_fails: bool = False) -> str:
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env=self._environment(),
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise BlockFailed(
                f"README.md line {block.line} ({block.language}) ran over {BLOCK_TIMEOUT} s"
            ) from error
        if done.returncode != 0 or (stderr_fails and done.stderr.strip()):
            raise BlockFailed(
                f"README.md line {block.line} ({block.language}) exited {done.returncode}\n"
                f"--- block\n{block.code}\n--- stdout\n{done.stdout[-4000:]}\n"
                f"--- stderr\n{done.stderr[-4000:]}"
            )
        return done.stdout
