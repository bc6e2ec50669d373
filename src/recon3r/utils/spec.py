"""Safe parsing of constructor strings such as `"ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)"`.

Model, dataset and loss specs are written as Python-looking expressions (the
reference's convention), but they are never handed to `eval`. We parse them with
`ast` and evaluate a tiny subset:

- literals: numbers, strings, booleans, None, tuples, lists, dicts, `inf` / `-inf`;
- arithmetic between numbers (`+ - * /`, unary minus);
- names and calls drawn from a whitelist (`namespace`), with literal or nested arguments;
- with `allow_operators=True`, the binary operators `@`, `*` and `+` applied to
  whitelisted objects through their Python operators (dataset mixing:
  `1000 @ A(...) + 2 * B(...)`).

Anything else (attribute access, subscripts, lambdas, comprehensions, `**kwargs`,
unknown names) raises `ConfigError` with a caret under the offending token.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from typing import Any

from recon3r.errors import ConfigError

_CONSTANT_NAMES = {"inf": math.inf, "nan": math.nan}
_NUMBER_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_OBJECT_OPS = {ast.MatMult: operator.matmul, ast.Mult: operator.mul, ast.Add: operator.add}


def parse_spec(text: str, namespace: Mapping[str, Any], *, allow_operators: bool = False, what: str = "spec") -> Any:
    """Evaluate the safe subset of Python described in the module docstring.

    `namespace` maps the allowed names to objects (classes, factories, constants).
    `what` names the kind of spec in error messages ("model", "dataset", "criterion").
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"empty {what} spec")
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ConfigError(f"invalid {what} spec: {err.msg}\n{_caret(source, (err.offset or 1) - 1, None)}") from None
    return _SpecEvaluator(source, namespace, allow_operators, what).evaluate(tree.body)


def format_spec(name: str, kwargs: Mapping[str, Any]) -> str:
    """Write `name(k=v, ...)` so that `parse_spec` reads it back (inf as `inf`, tuples kept)."""
    return f"{name}({', '.join(f'{key}={_format_value(value)}' for key, value in kwargs.items())})"


def _format_value(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, tuple):
        inner = ", ".join(_format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_format_value(k)}: {_format_value(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise ConfigError(f"cannot write a value of type {type(value).__name__} into a spec: {value!r}")


def _caret(source: str, start: int, end: int | None) -> str:
    width = max(1, (end if end is not None else start + 1) - start)
    return f"  {source}\n  {' ' * start}{'^' * width}"


class _SpecEvaluator:
    def __init__(self, source: str, namespace: Mapping[str, Any], allow_operators: bool, what: str):
        self.source = source
        self.namespace = namespace
        self.allow_operators = allow_operators
        self.what = what

    def fail(self, node: ast.AST, message: str) -> ConfigError:
        start = getattr(node, "col_offset", 0)
        end = getattr(node, "end_col_offset", None)
        return ConfigError(f"invalid {self.what} spec: {message}\n{_caret(self.source, start, end)}")

    def evaluate(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float, str, bool, type(None))):
                return node.value
            raise self.fail(node, f"constants of type {type(node.value).__name__} are not allowed")
        if isinstance(node, ast.Name):
            return self.lookup(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.evaluate(node.operand)
            if isinstance(node.op, ast.UAdd) and self.allow_operators and not _is_number(value):
                return value  # DUSt3R's mixes start with a '+': "+ 10_000 @ A(...) + ..."
            if not _is_number(value):
                raise self.fail(node, "a sign may only precede a number")
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Tuple):
            return tuple(self.evaluate(elt) for elt in node.elts)
        if isinstance(node, ast.List):
            return [self.evaluate(elt) for elt in node.elts]
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise self.fail(node, "'**' unpacking is not allowed")
            return {self.evaluate(k): self.evaluate(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            raise self.fail(node, "attribute access is not allowed")
        if isinstance(node, ast.Subscript):
            raise self.fail(node, "subscripts are not allowed")
        raise self.fail(node, f"{type(node).__name__} expressions are not allowed")

    def lookup(self, node: ast.Name) -> Any:
        if node.id in self.namespace:
            return self.namespace[node.id]
        if node.id in _CONSTANT_NAMES:
            return _CONSTANT_NAMES[node.id]
        known = ", ".join(sorted(self.namespace)) or "none"
        raise self.fail(node, f"unknown name {node.id!r} (known: {known})")

    def binary(self, node: ast.BinOp) -> Any:
        left, right = self.evaluate(node.left), self.evaluate(node.right)
        op_type = type(node.op)
        if _is_number(left) and _is_number(right) and op_type in _NUMBER_OPS:
            try:
                return _NUMBER_OPS[op_type](left, right)
            except ZeroDivisionError:
                raise self.fail(node, "division by zero") from None
        if self.allow_operators and op_type in _OBJECT_OPS:
            try:
                return _OBJECT_OPS[op_type](left, right)
            except TypeError as err:
                raise self.fail(node, str(err)) from None
        symbol = {ast.MatMult: "@", ast.Mult: "*", ast.Add: "+"}.get(op_type, type(node.op).__name__)
        raise self.fail(node, f"operator {symbol!r} is not allowed here")

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node.func, "only whitelisted names may be called")
        func = self.lookup(node.func)
        if not callable(func):
            raise self.fail(node.func, f"{node.func.id!r} is not callable")
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(arg, "'*' unpacking is not allowed")
            args.append(self.evaluate(arg))
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail(keyword.value, "'**' unpacking is not allowed")
            kwargs[keyword.arg] = self.evaluate(keyword.value)
        try:
            return func(*args, **kwargs)
        except TypeError as err:
            raise self.fail(node, f"bad arguments for {node.func.id}: {err}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def split_top_level_sum(text: str) -> list[str]:
    """Split `a + b + c` at its top-level `+` into the source of each term (`["a", "b", "c"]`).

    Used where a sum of datasets means "evaluate each separately" (test sets).
    """
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ConfigError(f"invalid spec: {err.msg}\n{_caret(source, (err.offset or 1) - 1, None)}") from None
    terms: list[ast.AST] = []

    def collect(node: ast.AST) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            collect(node.left)
            collect(node.right)
        else:
            terms.append(node)

    collect(tree.body)
    return [ast.get_source_segment(source, term) or "" for term in terms]
