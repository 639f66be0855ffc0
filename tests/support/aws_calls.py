"""The AWS calls a function's code makes, found statically, as the IAM actions they need.

Used by the deploy rehearsal (tests/deploy) to check that each function's role grants what its code
calls, and nothing more. How it works, kept small on purpose:

1. Parse ``functions/<name>/app.py`` and every ``ctibridge`` module (the layer) with ``ast``.
2. Reachability at the level of functions and methods, from everything in the handler's module: a
   reference to a name that resolves (through the module's imports) to a ``ctibridge`` function, class
   or module follows that; a method call on an unknown receiver (``store.save(...)``) follows every
   ``ctibridge`` method of that name. Module-level code of every imported module runs at import.
   This over-approximates (a name shared by two classes), never under-approximates a plain call.
3. In each reached function, the boto3 calls are recognised by operation name (``CALLS`` below, the
   only mapping from code to IAM), plus what boto3 hides behind one call: the items of a DynamoDB
   transaction (``{"Put": ...}``, ``{"Update": ...}``), a presigned URL's operation, Powertools'
   idempotency store and secrets provider.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
FUNCTIONS = ROOT / "functions"

# boto3 method name → IAM actions. Only names that are AWS operations of the services this code uses
# and nothing else in the code base (``get_secret_value`` is also pydantic's SecretStr: see _aws_actions).
CALLS: dict[str, frozenset[str]] = {
    # DynamoDB (Table resource and client)
    "get_item": frozenset({"dynamodb:GetItem"}),
    "put_item": frozenset({"dynamodb:PutItem"}),
    "update_item": frozenset({"dynamodb:UpdateItem"}),
    "delete_item": frozenset({"dynamodb:DeleteItem"}),
    "query": frozenset({"dynamodb:Query"}),
    "scan": frozenset({"dynamodb:Scan"}),
    "batch_get_item": frozenset({"dynamodb:BatchGetItem"}),
    "batch_write_item": frozenset({"dynamodb:BatchWriteItem"}),
    "batch_writer": frozenset({"dynamodb:BatchWriteItem"}),
    # TransactWriteItems has no IAM action of its own: each item needs its action (TRANSACT_ITEMS).
    "transact_write_items": frozenset(),
    "transact_get_items": frozenset({"dynamodb:GetItem"}),
    # SQS
    "send_message": frozenset({"sqs:SendMessage"}),
    "send_message_batch": frozenset({"sqs:SendMessage"}),
    "receive_message": frozenset({"sqs:ReceiveMessage"}),
    "delete_message": frozenset({"sqs:DeleteMessage"}),
    "delete_message_batch": frozenset({"sqs:DeleteMessage"}),
    "change_message_visibility": frozenset({"sqs:ChangeMessageVisibility"}),
    # S3
    "put_object": frozenset({"s3:PutObject"}),
    "get_object": frozenset({"s3:GetObject"}),
    "delete_object": frozenset({"s3:DeleteObject"}),
    "delete_objects": frozenset({"s3:DeleteObject"}),
    "list_objects_v2": frozenset({"s3:ListBucket"}),
    # API Gateway management API (posting to / closing WebSocket connections)
    "post_to_connection": frozenset({"execute-api:ManageConnections"}),
    "delete_connection": frozenset({"execute-api:ManageConnections"}),
    "get_connection": frozenset({"execute-api:ManageConnections"}),
    # Secrets Manager (Powertools' parameters.get_secret and the client call)
    "get_secret": frozenset({"secretsmanager:GetSecretValue"}),
    "get_secret_value": frozenset({"secretsmanager:GetSecretValue"}),
    "put_secret_value": frozenset({"secretsmanager:PutSecretValue"}),
    "create_secret": frozenset({"secretsmanager:CreateSecret"}),
    "delete_secret": frozenset({"secretsmanager:DeleteSecret"}),
}
# The items of transact_write_items: {"Put": {...}} etc.
TRANSACT_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# Classes of libraries that make AWS calls themselves when used.
LIBRARY_CLASSES: dict[str, frozenset[str]] = {
    # Powertools idempotency: get (existing record), put (in progress), update (done), delete (failed)
    "DynamoDBPersistenceLayer": frozenset(
        {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    ),
}

# A method call on an unknown receiver follows every ctibridge method of that name, except the names of
# the builtin types' methods (``d.get(...)`` on a dict is not ``CallRepository.get``).
BUILTIN_METHODS = frozenset(
    name for kind in (dict, list, str, set, bytes, tuple, object) for name in dir(kind)
) - {"__init__"} | {"read", "write", "close", "send", "flush"}  # and file/stream methods


@dataclass
class _Def:
    module: str
    name: str  # "func", "Class.method", or "<module>" for module-level code
    node: ast.AST
    cls: str | None = None


@dataclass
class _Module:
    name: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name → "ctibridge.x" or "ctibridge.x:y"
    defs: dict[str, _Def] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LAYER).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class CodeBase:
    """Every ``ctibridge`` module of the layer, parsed once."""

    def __init__(self) -> None:
        self.modules: dict[str, _Module] = {}
        for path in sorted((LAYER / "ctibridge").rglob("*.py")):
            self._add(_module_name(path), path)
        self.methods: dict[str, list[_Def]] = {}
        for module in self.modules.values():
            for d in module.defs.values():
                if d.cls is not None:
                    self.methods.setdefault(d.name.split(".", 1)[1], []).append(d)

    def _add(self, name: str, path: Path) -> _Module:
        tree = ast.parse(path.read_text(), filename=str(path))
        module = _Module(name=name, tree=tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base])
                    base = base.strip(".")
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = f"{base}:{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name.split(".")[0]] = alias.name
        module.defs["<module>"] = _Def(name, "<module>", tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                module.defs[node.name] = _Def(name, node.name, node)
            elif isinstance(node, ast.ClassDef):
                module.defs[node.name] = _Def(name, node.name, node)
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        qualified = f"{node.name}.{item.name}"
                        module.defs[qualified] = _Def(name, qualified, item, cls=node.name)
        self.modules[name] = module
        return module

    def load_handler(self, function: str) -> _Module:
        return self._add(f"functions.{function}.app", FUNCTIONS / function / "app.py")

    # ------------------------------------------------------------------ reachability
    def _resolve_import(self, target: str) -> list[_Def]:
        """``ctibridge.x`` or ``ctibridge.x:y`` → the module's code, or the function / class y."""
        module_name, _, attribute = target.partition(":")
        if attribute and f"{module_name}.{attribute}" in self.modules:  # from package import submodule
            return [self.modules[f"{module_name}.{attribute}"].defs["<module>"]]
        module = self.modules.get(module_name)
        if module is None:
            return []
        if not attribute:
            return [module.defs["<module>"]]
        found = self._members(module, attribute)
        if not found and attribute in module.imports:  # re-exported name
            return self._resolve_import(module.imports[attribute])
        return found

    def _base_members(self, module: _Module, d: _Def, attribute: str) -> Iterator[_Def]:
        """``super().attribute`` in a method of ``d.cls``: that attribute of the class's bases."""
        cls = module.defs.get(d.cls or "")
        if cls is None or not isinstance(cls.node, ast.ClassDef):
            return
        for base in cls.node.bases:
            if not isinstance(base, ast.Name):
                continue
            if base.id in module.defs:
                owner: _Module | None = module
            elif base.id in module.imports:
                target = module.imports[base.id].partition(":")
                owner = self.modules.get(target[0])
            else:
                owner = None
            name = base.id if owner is module else module.imports.get(base.id, ":").partition(":")[2]
            if owner is not None and f"{name}.{attribute}" in owner.defs:
                yield owner.defs[f"{name}.{attribute}"]

    def _imported_module(self, target: str) -> list[_Def]:
        """What an import statement runs: the module's own code (``from m import f`` runs m, not f)."""
        module_name, _, attribute = target.partition(":")
        for name in (f"{module_name}.{attribute}", module_name):
            if name in self.modules:
                return [self.modules[name].defs["<module>"]]
        return []

    @staticmethod
    def _members(module: _Module, name: str) -> list[_Def]:
        d = module.defs.get(name)
        if d is None:
            return []
        if isinstance(d.node, ast.ClassDef):
            # a class: its class-level code and what constructing or using an instance runs; other
            # methods are reached by name where they are called
            hooks = ("__init__", "__post_init__", "__call__", "__enter__", "__exit__", "model_post_init")
            return [d, *(module.defs[f"{name}.{h}"] for h in hooks if f"{name}.{h}" in module.defs)]
        return [d]

    def _edges(self, d: _Def) -> Iterator[_Def]:
        module = self.modules[d.module]
        if d.name == "<module>":
            # a function registered by a decorator call (``@route("callout")``, ``@app.get(...)``) is
            # called through a registry once its module is imported
            for node in module.tree.body:
                if isinstance(node, ast.FunctionDef) and any(
                    isinstance(x, ast.Call) for x in node.decorator_list
                ):
                    yield module.defs[node.name]
        for node in _walk(*_body(d)):
            if isinstance(node, ast.Name):
                if node.id in module.defs and node.id != d.name:
                    yield from self._members(module, node.id)
                elif node.id in module.imports:
                    yield from self._resolve_import(module.imports[node.id])
            elif isinstance(node, ast.Attribute):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls") and d.cls is not None:
                    yield from self._members(module, f"{d.cls}.{node.attr}")
                elif isinstance(base, ast.Name) and base.id in module.imports:
                    target = module.imports[base.id]
                    joined = target.replace(":", ".")
                    if joined in self.modules:
                        yield from self._resolve_import(f"{joined}:{node.attr}")
                elif isinstance(base, ast.Call) and getattr(base.func, "id", None) == "super":
                    yield from self._base_members(module, d, node.attr)
                elif node.attr not in BUILTIN_METHODS and not node.attr.startswith("__"):
                    yield from self.methods.get(node.attr, [])
            elif isinstance(node, ast.Import | ast.ImportFrom):
                # an import inside a function runs its module's code when the function runs
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    if name in module.imports:
                        yield from self._imported_module(module.imports[name])

    def reachable(self, function: str) -> list[_Def]:
        handler = self.load_handler(function)
        todo = list(handler.defs.values())
        seen: dict[tuple[str, str], _Def] = {}
        while todo:
            d = todo.pop()
            if (d.module, d.name) in seen:
                continue
            seen[(d.module, d.name)] = d
            todo.extend(self._edges(d))
            if d.name != "<module>":  # using something of a module imports it
                todo.append(self.modules[d.module].defs["<module>"])
        return list(seen.values())

    def connection_methods(self, function: str) -> set[str]:
        """Methods of the @connections API the handler's code reaches (ManageConnections' resources)."""
        methods = {"post_to_connection": "POST", "delete_connection": "DELETE", "get_connection": "GET"}
        found = set()
        for d in self.reachable(function):
            for node in _walk(*_body(d)):
                func = node.func if isinstance(node, ast.Call) else None
                if isinstance(func, ast.Attribute) and func.attr in methods:
                    found.add(methods[func.attr])
        return found

    def actions(self, function: str) -> dict[str, set[str]]:
        """IAM action → where the code calls it (``module:function``), for the handler's reachable code."""
        found: dict[str, set[str]] = {}
        for d in self.reachable(function):
            for action in _aws_actions(*_body(d)):
                found.setdefault(action, set()).add(f"{d.module}:{d.name}")
        return found


def _body(d: _Def) -> tuple[list[ast.stmt] | list[ast.AST], bool]:
    """The statements of a def; for a module or class, without the bodies of its functions."""
    if isinstance(d.node, ast.Module | ast.ClassDef):
        return d.node.body, True
    return [d.node], False


def _walk(body: list[ast.stmt] | list[ast.AST], skip_nested: bool) -> Iterator[ast.AST]:
    """Every node under ``body``; for module-level code, not the bodies of its functions and classes."""
    todo: list[ast.AST] = []
    for node in body:
        if skip_nested and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            todo.extend([*node.decorator_list, *_defaults(node)])
        else:
            todo.append(node)
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if skip_nested and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                # decorators and default values run at import time; the body does not
                todo.extend([*child.decorator_list, *_defaults(child)])
                continue
            todo.append(child)


def _defaults(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    return []


def _aws_actions(body: list[ast.stmt] | list[ast.AST], skip_nested: bool) -> Iterator[str]:
    nodes = list(_walk(body, skip_nested))
    # ``with table.batch_writer() as batch: batch.put_item(...)`` is one BatchWriteItem, not PutItem
    batches = {
        item.optional_vars.id
        for node in nodes
        if isinstance(node, ast.With)
        for item in node.items
        if isinstance(item.optional_vars, ast.Name)
        and isinstance(item.context_expr, ast.Call)
        and getattr(item.context_expr.func, "attr", None) == "batch_writer"
    }
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in batches
        ):
            continue
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            keywords = {k.arg for k in node.keywords}
            if name in LIBRARY_CLASSES:
                yield from LIBRARY_CLASSES[name]
            elif name == "get_secret_value" and "SecretId" not in keywords:
                continue  # pydantic's SecretStr.get_secret_value(): no AWS call
            elif name == "generate_presigned_url" and node.args and isinstance(node.args[0], ast.Constant):
                yield from CALLS.get(str(node.args[0].value), frozenset())
            elif isinstance(func, ast.Attribute) and name in CALLS:
                yield from CALLS[func.attr]
        elif isinstance(node, ast.Dict) and len(node.keys) == 1:
            key = node.keys[0]
            if isinstance(key, ast.Constant) and key.value in TRANSACT_ITEMS:
                yield TRANSACT_ITEMS[str(key.value)]
