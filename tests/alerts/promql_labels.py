"""Which labels a PromQL expression's result can carry: a small parser for the policy tests.

pint's ``alerts/template`` check asks whether every ``$labels.x`` an annotation reads
survives the expression's aggregations and joins; pint is not installable here, so this
module answers the same question for our rule file. It parses PromQL (the operators,
modifiers, aggregations and functions Prometheus 2.42 knows) and infers, for the result,
the set of *alternative* label sets it can have: ``a or b`` yields a's sets plus b's, so
``up == 0 or absent(up)`` is either ``{job, instance}`` or ``{}``, and a template guarded by
``{{ if $labels.instance }}`` can be checked against each alternative the way Go would run
it. Selector labels come from the exporter's metric table plus the target labels
``job`` and ``instance`` Prometheus adds.

Result labels follow the engine (``promql/engine.go``, ``resultMetric``): one-to-one
matching ``on (l)`` keeps only ``l``, ``ignoring (l)`` drops ``l``; ``group_left (l)`` keeps
the many side and copies ``l`` from the one side; ``and``/``unless`` keep the left side;
``by``/``without`` pick the grouping labels that exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Labels", "PromQLError", "infer_labels"]

#: Alternative label sets of a vector; the empty set of alternatives means "no series".
Labels = frozenset[frozenset[str]]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>\[[^\]]*\]|(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w:]))
  | (?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)(?![\w:]))
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>==|!=|<=|>=|=~|!~|[-+*/%^<>(){},=@])
    """,
    re.X,
)
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
}  # fmt: skip
_KEEP_INPUT = {"topk", "bottomk"}
_SCALAR_FUNCTIONS = {"time", "scalar", "pi", "minute", "hour", "day_of_month", "day_of_week",
                     "day_of_year", "days_in_month", "month", "year"}  # fmt: skip
#: Binary operators by precedence, lowest first (``^`` binds tightest, right-associative).
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("or",),
    ("and", "unless"),
    ("==", "!=", "<=", "<", ">=", ">"),
    ("+", "-"),
    ("*", "/", "%", "atan2"),
    ("^",),
)


class PromQLError(ValueError):
    """The expression does not parse, or names a metric whose labels are unknown."""


@dataclass(frozen=True, slots=True)
class _Value:
    """A scalar (``labels`` None) or a vector with its alternative label sets."""

    labels: Labels | None

    @property
    def scalar(self) -> bool:
        return self.labels is None


_SCALAR = _Value(None)


class _Parser:
    def __init__(self, text: str, metrics: Mapping[str, frozenset[str] | None]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise PromQLError(f"cannot read {text[pos : pos + 20]!r}")
            pos = match.end()
            kind = match.lastgroup or ""
            if kind != "space":
                self.tokens.append((kind, match.group()))
        self.pos = 0
        self.metrics = metrics

    # -------------------------------------------------------------- token helpers

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.tokens[index][1] if index < len(self.tokens) else ""

    def kind(self) -> str:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise PromQLError(f"unexpected end, wanted {expected or 'more'}")
        value = self.tokens[self.pos][1]
        if expected is not None and value != expected:
            raise PromQLError(f"wanted {expected!r}, got {value!r}")
        self.pos += 1
        return value

    def label_list(self) -> frozenset[str]:
        self.take("(")
        names: set[str] = set()
        while self.peek() != ")":
            names.add(self.take())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return frozenset(names)

    # -------------------------------------------------------------- grammar

    def parse(self) -> _Value:
        value = self.binary(0)
        if self.pos != len(self.tokens):
            raise PromQLError(f"unexpected {self.peek()!r}")
        return value

    def binary(self, level: int) -> _Value:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.take()
            modifiers = self.modifiers()
            # ^ is right-associative: its right side may hold another ^
            right = self.binary(level if op == "^" else level + 1)
            left = _combine(op, left, right, modifiers)
        return left

    def modifiers(self) -> dict[str, frozenset[str] | bool]:
        found: dict[str, frozenset[str] | bool] = {}
        if self.peek() == "bool":
            self.take()
            found["bool"] = True
        if self.peek() in ("on", "ignoring"):
            how = self.take()
            found[how] = self.label_list()
        if self.peek() in ("group_left", "group_right"):
            side = self.take()
            found[side] = self.label_list() if self.peek() == "(" else frozenset()
        return found

    def unary(self) -> _Value:
        if self.peek() in ("-", "+"):
            self.take()
            return self.unary()
        return self.postfix(self.primary())

    def postfix(self, value: _Value) -> _Value:
        while True:
            if self.kind() == "duration":
                self.take()  # a range [5m] or a subquery [1h:5m]: labels unchanged
            elif self.peek() == "offset":
                self.take()
                if self.peek() == "-":
                    self.take()
                self.take()
            elif self.peek() == "@":
                self.take()
                self.take()
                if self.peek() == "(":
                    self.take("(")
                    self.take(")")
            else:
                return value

    def primary(self) -> _Value:
        kind, token = self.kind(), self.peek()
        if kind in ("number", "string"):
            self.take()
            return _SCALAR
        if token == "(":
            self.take()
            value = self.binary(0)
            self.take(")")
            return value
        if token == "{":
            raise PromQLError("selectors without a metric name are not supported")
        if kind != "ident":
            raise PromQLError(f"unexpected {token!r}")
        if token in _AGGREGATIONS and self.peek(1) in ("(", "by", "without"):
            return self.aggregation()
        if self.peek(1) == "(":
            return self.function()
        return self.selector()

    def selector(self) -> _Value:
        name = self.take()
        if self.peek() == "{":
            self.matchers()
        if name not in self.metrics:
            raise PromQLError(f"no labels known for metric {name!r}")
        known = self.metrics[name]
        # None: a recorded series being defined by this very expression (a latch): it
        # contributes whatever the rest of the expression gives.
        return _Value(frozenset() if known is None else frozenset({known}))

    def matchers(self) -> frozenset[str]:
        """Skip ``{...}``; return the names matched with ``=`` (what absent() keeps)."""
        self.take("{")
        equal: set[str] = set()
        while self.peek() != "}":
            name = self.take()
            op = self.take()
            self.take()  # the value
            if op == "=":
                equal.add(name)
            if self.peek() == ",":
                self.take()
        self.take("}")
        return frozenset(equal)

    def aggregation(self) -> _Value:
        op = self.take()
        grouping: tuple[str, frozenset[str]] | None = None
        if self.peek() in ("by", "without"):
            grouping = (self.take(), self.label_list())
        self.take("(")
        args = [self.binary(0)]
        while self.peek() == ",":
            self.take()
            args.append(self.binary(0))
        self.take(")")
        if self.peek() in ("by", "without"):
            grouping = (self.take(), self.label_list())
        vector = args[-1]
        if vector.labels is None:
            raise PromQLError(f"{op} needs a vector")
        if op in _KEEP_INPUT:
            return vector
        if op == "count_values":
            raise PromQLError("count_values is not supported")
        return _Value(frozenset(_group(s, grouping) for s in vector.labels))

    def function(self) -> _Value:
        name = self.take()
        self.take("(")
        start = self.pos
        plain: frozenset[str] | None = None  # absent(metric{...}): its "=" matchers
        if name in ("absent", "absent_over_time") and self.kind() == "ident":
            self.take()
            equal = self.matchers() if self.peek() == "{" else frozenset()
            if self.kind() == "duration":
                self.take()
            plain = equal if self.peek() == ")" else None
            self.pos = start
        args: list[_Value] = []
        while self.peek() != ")":
            args.append(self.binary(0))
            if self.peek() == ",":
                self.take()
        self.take(")")
        if name in _SCALAR_FUNCTIONS:
            return _SCALAR
        if name in ("absent", "absent_over_time"):
            return _Value(frozenset({plain or frozenset()}))
        if name == "vector":
            return _Value(frozenset({frozenset()}))
        if name in ("label_replace", "label_join"):
            target = self.tokens[start + 2][1].strip("\"'`")  # (v, "dst", ...)
            base = args[0].labels or frozenset()
            return _Value(frozenset(s | {target} for s in base))
        vectors = [a for a in args if not a.scalar]
        if not vectors:
            raise PromQLError(f"{name}() without a vector argument")
        return vectors[0]


def _group(labels: frozenset[str], grouping: tuple[str, frozenset[str]] | None) -> frozenset[str]:
    if grouping is None:
        return frozenset()
    how, names = grouping
    return labels & names if how == "by" else labels - names


def _combine(
    op: str, left: _Value, right: _Value, modifiers: Mapping[str, frozenset[str] | bool]
) -> _Value:
    if left.labels is None and right.labels is None:
        return _SCALAR
    if left.labels is None or right.labels is None:
        if op in ("and", "or", "unless"):
            raise PromQLError(f"{op} needs vectors on both sides")
        return left if left.labels is not None else right
    if op in ("and", "unless"):
        return left
    if op == "or":
        return _Value(left.labels | right.labels)
    on = modifiers.get("on")
    ignoring = modifiers.get("ignoring")
    results: set[frozenset[str]] = set()
    for lhs in left.labels:
        for rhs in right.labels:
            if "group_left" in modifiers:
                include = modifiers["group_left"]
                assert isinstance(include, frozenset)
                results.add(lhs | (include & rhs))
            elif "group_right" in modifiers:
                include = modifiers["group_right"]
                assert isinstance(include, frozenset)
                results.add(rhs | (include & lhs))
            elif isinstance(on, frozenset):
                results.add(lhs & on)
            elif isinstance(ignoring, frozenset):
                results.add(lhs - ignoring)
            else:
                results.add(lhs)
    return _Value(frozenset(results))


def infer_labels(expr: str, metrics: Mapping[str, frozenset[str] | None]) -> Labels:
    """Return the alternative label sets of ``expr``'s result (metric name excluded).

    ``metrics`` maps every metric name the expression may use to its labels (None for
    the recorded series an expression defines and reads back). Raises PromQLError for
    a scalar result, an unknown metric or syntax this parser does not know.
    """
    value = _Parser(expr, metrics).parse()
    if value.labels is None:
        raise PromQLError("the expression is a scalar")
    return value.labels
