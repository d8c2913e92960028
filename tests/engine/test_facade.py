"""The facade's calling conventions (issue 23): every function and behaviour class it exports takes at most two
positional parameters (the rest by keyword), and every function documents the engine errors it can raise."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import enum
import importlib
import inspect
import re
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import engine

MAX_POSITIONAL = 2


def facade_functions() -> Iterator[tuple[str, Callable[..., Any]]]:
    """The facade's functions, and those of the module it exports as a name (`gpu`: status, install, activate)."""
    for name in engine.__all__:
        value = getattr(engine, name)
        if inspect.isfunction(value):
            yield name, value
        elif isinstance(value, types.ModuleType):
            for inner in value.__all__:
                if inspect.isfunction(function := getattr(value, inner)):
                    yield f"{name}.{inner}", function


def facade_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """The functions, and the classes whose constructor is a call with arguments of their own (FrameBatch,
    Progress, the errors): not enums, and not records (dataclasses), which hold what they are given."""
    yield from facade_functions()
    for name in engine.__all__:
        value = getattr(engine, name)
        if not inspect.isclass(value) or issubclass(value, enum.Enum) or dataclasses.is_dataclass(value):
            continue
        init = value.__init__
        if inspect.isfunction(init):  # written in Python, not inherited from object or Exception
            yield name, init


def crowded(fn: Callable[..., Any]) -> list[str]:
    """The parameters past the second that can be given by position (`self` not counted)."""
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p.name for p in params if p.kind in kinds or p.kind == inspect.Parameter.VAR_POSITIONAL]
    return positional[MAX_POSITIONAL:]


def test_facade_callables_take_at_most_two_positional_parameters():
    found = dict(facade_callables())
    assert {"prepare_model", "run_image", "FrameBatch", "gpu.install_gpu_runtime"} <= set(found)  # all kinds seen
    assert {name: extra for name, fn in found.items() if (extra := crowded(fn))} == {}


def test_the_signature_check_catches_a_third_positional_parameter():
    def three(a, b, c=None): ...

    def varargs(a, *more): ...

    def keywords(a, b, *, c=None, d=None): ...

    class Batch:
        def __init__(self, prepared, pattern, settings=None): ...

    assert crowded(three) == ["c"] and crowded(Batch.__init__) == ["settings"]
    assert crowded(varargs) == [] and crowded(keywords) == []
    assert crowded(lambda a, b, c, *rest: None) == ["c", "rest"]


# -- Raises -------------------------------------------------------------------------------------------------------

ERROR_KINDS = {
    name: value
    for name in engine.__all__
    if inspect.isclass(value := getattr(engine, name)) and issubclass(value, engine.EngineError)
}
"""The engine's error kinds a docstring may name: engine/errors.py's, and the subclasses the facade exports."""


def documented_errors(fn: Callable[..., Any]) -> set[type]:
    """The error kinds named on the `Raises:` line of `fn`'s docstring (up to the next blank line): the engine's, and
    Python's own (ValueError, OSError); any other name fails (a typo, or an error kind the engine does not have)."""
    doc = inspect.getdoc(fn) or ""
    match = re.search(r"Raises:(.*?)(?:\n\s*\n|\Z)", doc, re.S)
    if match is None:
        return set()
    kinds = set()
    for name in set(re.findall(r"\b([A-Z][A-Za-z]*(?:Error|Failure|Exception)|Cancelled)\b", match.group(1))):
        kind = ERROR_KINDS.get(name, getattr(builtins, name, None))
        assert inspect.isclass(kind) and issubclass(kind, Exception), f"{fn.__name__}: Raises names {name}"
        kinds.add(kind)
    return kinds


class ErrorFlow:
    """The engine errors a function can raise, read from the engine's source: its own `raise` statements and those of
    every engine function or class it calls by name (module-level, imported, or `module.function`), less what a
    `try` around them catches. Calls on objects (`self.x()`, `prepared.session.run`) are not followed, so this is
    what the function can surely raise, not all it might."""

    def __init__(self) -> None:
        self._known: dict[Any, frozenset[type]] = {}

    def errors_of(self, fn: Any) -> frozenset[type]:
        fn = inspect.unwrap(getattr(fn, "__func__", fn))
        if fn in self._known:
            return self._known[fn]
        self._known[fn] = frozenset()  # a recursive call adds nothing new
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError):  # generated (a dataclass's __init__): nothing written to raise
            return frozenset()
        scope = _Scope(fn, tree)
        found = frozenset(self._visit(tree.body[0], scope, frozenset()))
        self._known[fn] = found
        return found

    def _visit(self, node: ast.AST, scope: _Scope, caught: frozenset[type]) -> set[type]:
        if isinstance(node, ast.Try | ast.TryStar):
            return self._try(node, scope, caught)
        if isinstance(node, ast.Raise):
            return set(caught) if node.exc is None else self._raised(node.exc, scope)
        found: set[type] = set()
        if isinstance(node, ast.Call):
            found |= self._called(scope.resolve(node.func))
        for child in ast.iter_child_nodes(node):
            found |= self._visit(child, scope, caught)
        return found

    def _try(self, node: ast.Try | ast.TryStar, scope: _Scope, caught: frozenset[type]) -> set[type]:
        inside = set().union(*(self._visit(stmt, scope, caught) for stmt in node.body))
        found: set[type] = set()
        for error in inside:  # the first handler that matches takes it
            if not any(_catches(handler, error, scope) for handler in node.handlers):
                found.add(error)
        for index, handler in enumerate(node.handlers):
            taken = frozenset(
                e
                for e in inside
                if _catches(handler, e, scope) and not any(_catches(h, e, scope) for h in node.handlers[:index])
            )
            found |= set().union(*(self._visit(stmt, scope, taken) for stmt in handler.body))
        for stmt in node.orelse + node.finalbody:
            found |= self._visit(stmt, scope, caught)
        return found

    def _raised(self, exc: ast.expr, scope: _Scope) -> set[type]:
        target = scope.resolve(exc.func if isinstance(exc, ast.Call) else exc)
        if _is_error(target):
            return {target}
        if inspect.isfunction(target) and target.__module__.startswith("engine"):
            # `raise conversion_failed(report)`: the error its return annotation names
            kind = getattr(target, "__annotations__", {}).get("return")
            if isinstance(kind, str):  # postponed annotations: the name, read in the function's module
                kind = _Scope(target, None).resolve(ast.parse(kind, mode="eval").body)
            return {kind} if _is_error(kind) else set()
        return set()

    def _called(self, target: Any) -> set[type]:
        if inspect.isclass(target) and target.__module__.startswith("engine"):
            own = (target.__dict__.get(name) for name in ("__init__", "__post_init__"))
            return set().union(*(self.errors_of(method) for method in own if method is not None))
        fn = inspect.unwrap(getattr(target, "__func__", target)) if callable(target) else None
        if inspect.isfunction(fn) and fn.__module__.startswith("engine"):
            return set(self.errors_of(fn))
        return set()


def _is_error(value: Any) -> bool:
    return inspect.isclass(value) and issubclass(value, engine.EngineError)


def _catches(handler: ast.ExceptHandler, error: type, scope: _Scope) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for kind in kinds:
        value = scope.resolve(kind)
        for caught in value if isinstance(value, tuple) else (value,):  # a module's tuple of error kinds
            if inspect.isclass(caught) and issubclass(error, caught):
                return True
    return False


class _Scope:
    """Names as a function sees them: its module's globals and the imports inside the function."""

    def __init__(self, fn: Any, tree: ast.AST | None):
        self.globals: dict[str, Any] = fn.__globals__
        self.local: dict[str, Any] = {}
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.ImportFrom):
                self._import_from(node)

    def _import_from(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = importlib.import_module("." * node.level + (node.module or ""), self.globals["__package__"])
        else:
            base = importlib.import_module(node.module or "")
        for alias in node.names:
            value = getattr(base, alias.name, None)
            if value is None:
                try:
                    value = importlib.import_module(f"{base.__name__}.{alias.name}")
                except ImportError:
                    continue
            self.local[alias.asname or alias.name] = value

    def resolve(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return self.local.get(node.id, self.globals.get(node.id))
        if isinstance(node, ast.Attribute):
            owner = self.resolve(node.value)
            if isinstance(owner, types.ModuleType) or inspect.isclass(owner):
                return getattr(owner, node.attr, None)
        return None


def test_facade_functions_document_the_engine_errors_they_can_raise():
    flow = ErrorFlow()
    undocumented, raisers = {}, set()
    for name, fn in facade_functions():
        raised = flow.errors_of(fn)
        raisers |= {name} if raised else set()
        documented = documented_errors(fn)
        missing = sorted(e.__name__ for e in raised if not any(issubclass(e, d) for d in documented))
        if missing:
            undocumented[name] = missing
    assert undocumented == {}
    assert {"prepare_model", "run_image", "read_image"} <= raisers  # the walk follows calls into the engine


def _opens(path):
    """Reads a model file."""
    return engine.load_model(path)


def _opens_documented(path):
    """Reads a model file.

    Raises: ModelError when it cannot be read."""
    return engine.load_model(path)


def _opens_quietly(path):
    """Reads a model file, or None."""
    try:
        return engine.load_model(path)
    except engine.EngineError:
        return None


def _opens_or_says_why(path):
    """Reads a model file."""
    try:
        return engine.load_model(path)
    except engine.ModelError as exc:
        raise engine.ImageError(str(exc)) from exc


def test_the_raises_check_follows_calls_and_sees_what_a_try_catches():
    flow = ErrorFlow()
    assert engine.ModelError in flow.errors_of(_opens) and not documented_errors(_opens)
    assert documented_errors(_opens_documented) == {engine.ModelError}
    assert flow.errors_of(_opens_quietly) == frozenset()
    assert flow.errors_of(_opens_or_says_why) == {engine.ImageError}
