"""Loads each function's handler as Lambda would and invokes it with a Lambda-like context."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ctibridge_local import aws_calls, powertools_isolation
from ctibridge_local.resolve import ACCOUNT_ID, REGION
from ctibridge_local.template import Function

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class FunctionError(Exception):
    """The handler raised: Lambda reports it to API Gateway as an integration failure."""


class LocalFunction:
    """One function of the template, loaded once (a warm Lambda), invoked any number of times."""

    def __init__(self, spec: Function) -> None:
        self.spec = spec
        self._handler: Handler | None = None
        self._load_lock = threading.Lock()

    def _load(self) -> Handler:
        with self._load_lock:
            if self._handler is None:
                module_name, _, attribute = self.spec.handler.rpartition(".")
                path = self.spec.code_uri / (module_name.replace(".", "/") + ".py")
                # Every function's module is app.py: load each under its own name so they don't collide.
                unique = f"_lambda_{self.spec.logical_id}_{module_name.replace('.', '_')}"
                module_spec = importlib.util.spec_from_file_location(unique, path)
                if module_spec is None or module_spec.loader is None:
                    raise FunctionError(f"cannot load {path}")
                module: ModuleType = importlib.util.module_from_spec(module_spec)
                sys.modules[unique] = module
                module_spec.loader.exec_module(module)
                self._handler = getattr(module, attribute)
        return self._handler

    def invoke(self, event: dict[str, Any]) -> Any:
        handler = self._load()
        context = LambdaContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=512,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.spec.logical_id}",
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + self.spec.timeout,
        )
        # Log lines of this invocation carry this function's name, whatever ran on this thread before.
        powertools_isolation.begin_invocation(self.spec.logical_id)
        try:
            with aws_calls.invoking(self.spec.logical_id):
                return handler(event, context)
        except Exception as error:
            # Lambda logs the error and its stack to CloudWatch; the caller only learns it failed.
            traceback.print_exc()
            raise FunctionError(f"{self.spec.logical_id} failed: {type(error).__name__}") from error


class Functions:
    """All functions of the template, by logical id."""

    def __init__(self, specs: dict[str, Function]) -> None:
        self._functions = {name: LocalFunction(spec) for name, spec in specs.items()}

    def __getitem__(self, logical_id: str) -> LocalFunction:
        return self._functions[logical_id]

    def warm_up(self) -> None:
        """Import every handler now, so a broken one fails `make dev` at start, not on first call."""
        for function in self._functions.values():
            function._load()
