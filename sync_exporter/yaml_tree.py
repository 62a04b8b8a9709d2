"""Strict YAML reading for the config: plain Python values, every problem named by key path.

PyYAML's ``safe_load`` silently keeps the last of two equal keys and quotes the offending
line (which may hold a password) in its syntax errors. So the document is composed into
YAML nodes and converted here by hand: duplicate keys, non-string keys, merge keys and
unknown tags become errors prefixed with their key path, all collected rather than
raised one by one, and ``${VAR}`` references in string values are expanded on the way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class _Invalid:
    """The type of :data:`INVALID`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


#: Stands in for a value whose problem is already reported (unset ${VAR}, unknown tag),
#: so validators skip it instead of adding a second, misleading error.
INVALID = _Invalid()

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
#: Refuse documents whose aliases expand beyond this many nodes (a config is a few hundred).
MAX_NODES = 100_000


def key_path(parent: str, key: str | int) -> str:
    """Return the path of ``key`` under ``parent``: ``nodes[2].url``, ``folders["/a b"]``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def expand_env(value: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Expand ``${NAME}`` references and ``$$`` escapes in ``value``.

    Returns ``(expanded, None)`` or ``(None, error)``. A ``$`` followed by anything else
    is kept as is. The error never quotes ``value`` (it may be a password); it names the
    variable only for a well-formed reference, which by the documented syntax is a name.
    """
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        follow = value[i + 1 : i + 2]
        if char != "$" or follow not in ("$", "{"):
            out.append(char)
            i += 1
            continue
        if follow == "$":
            out.append("$")
            i += 2
            continue
        end = value.find("}", i + 2)
        name = value[i + 2 : end] if end != -1 else ""
        if not _IDENTIFIER.fullmatch(name):
            return None, (
                "malformed ${...} reference: write ${NAME} with NAME made of letters, digits "
                "and _, or $$ for a literal $"
            )
        if name not in env:
            return None, f"environment variable {name} is not set"
        out.append(env[name])
        i = end + 1
    return "".join(out), None


class _Converter:
    """Turns one composed YAML document into dicts, lists and scalars, collecting errors."""

    def __init__(self, env: Mapping[str, str] | None, errors: list[str]) -> None:
        self._env = env
        self._errors = errors
        self._constructor = yaml.SafeLoader("")
        self._active: set[int] = set()
        self._visited = 0

    def convert(self, node: Node, path: str, *, is_key: bool = False) -> object:
        self._visited += 1
        if self._visited > MAX_NODES:
            raise _TooLargeError
        if id(node) in self._active:
            self._errors.append(f"{path or 'top level'}: recursive YAML alias")
            return INVALID
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode | SequenceNode) and node.tag not in _COLLECTION_TAGS:
                self._errors.append(
                    f"{path or 'top level'}: YAML tags like {_short(node.tag)} are not supported"
                )
                return INVALID
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.convert(item, key_path(path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path, is_key=is_key)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: MappingNode, path: str) -> dict[str, object]:
        out: dict[str, object] = {}
        lines: dict[str, int] = {}
        where = path or "top level"
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                self._errors.append(f"{where}: YAML merge keys (<<) are not supported")
                continue
            key = self.convert(key_node, path, is_key=True)
            if key is INVALID:
                continue  # already reported
            if not isinstance(key, str):
                self._errors.append(
                    f"{where}: key on line {line} must be a string (quote it), not {describe(key)}"
                )
                continue
            child = key_path(path, key)
            if key in lines:
                self._errors.append(f"{child}: duplicate key (line {lines[key]} and line {line})")
                continue
            lines[key] = line
            out[key] = self.convert(value_node, child)
        return out

    def _scalar(self, node: Node, path: str, *, is_key: bool) -> object:
        if not isinstance(node, ScalarNode) or not node.tag.startswith("tag:yaml.org,2002:"):
            self._errors.append(f"{path or 'top level'}: unsupported YAML tag {_short(node.tag)}")
            return INVALID
        if node.tag not in (self._implicit_tag(node), _STR_TAG):
            # ``password: !!float 1e3``: the tag, not the text, would decide the type, and
            # constructing it can fail with the value in the message. Named, never shown.
            self._errors.append(
                f"{path or 'top level'}: YAML tags like {_short(node.tag)} are not supported: "
                "write the value without a tag (quote it to make it a string)"
            )
            return INVALID
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ArithmeticError, ValueError, TypeError):
            # e.g. a date-like 2026-13-45: PyYAML's own message would quote the value.
            self._errors.append(f"{path or 'top level'}: invalid {node.tag.rsplit(':', 1)[-1]}")
            return INVALID
        if isinstance(value, str) and not is_key and self._env is not None:
            expanded, error = expand_env(value, self._env)
            if error is not None:
                self._errors.append(f"{path}: {error}")
                return INVALID
            value = expanded
        if isinstance(value, str) and _SURROGATE.search(value):
            # From a "\ud800" escape, or an environment variable holding bytes that are not
            # UTF-8: such a string cannot be sent (basic auth) or exported (a label).
            self._errors.append(
                f"{path or 'top level'}: holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF "
                "escape, or an environment variable that is not UTF-8): not valid text"
            )
            return INVALID
        return value

    def _implicit_tag(self, node: ScalarNode) -> str:
        """The tag the scalar's text alone gives it (plain style), else ``!!str``."""
        if node.style is not None:  # quoted or block scalars are strings
            return _STR_TAG
        tag: str = self._constructor.resolve(  # type: ignore[no-untyped-call]
            ScalarNode, node.value, (True, False)
        )
        return tag


def _short(tag: str) -> str:
    """``tag:yaml.org,2002:float`` -> ``!!float`` (other tags shown as written, cut short)."""
    prefix = "tag:yaml.org,2002:"
    text = "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag
    return text if len(text) <= 40 else text[:37] + "..."


class _TooLargeError(Exception):
    """The document expands (through aliases) beyond :data:`MAX_NODES` nodes."""


def describe(value: object) -> str:
    """Return a short, value-free description of a YAML value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


#: PyYAML's problem texts, in plain words: (context starts with, problem starts with) -> text.
#: An empty part matches anything. The first match wins.
_PLAIN: tuple[tuple[str, str, str], ...] = (
    (
        "while scanning a quoted scalar",
        "found unexpected end of stream",
        "a quoted string starts here and is never closed (a missing closing quote?)",
    ),
    (
        "while scanning a quoted scalar",
        "",
        "a quoted string starts here and holds something a quoted string cannot",
    ),
    (
        "while scanning a simple key",
        "could not find expected ':'",
        "this line is not 'key: value': the ':' (followed by a space) is missing",
    ),
    (
        "while scanning for the next token",
        "found character '\\t'",
        "a tab character: YAML indents with spaces only",
    ),
    (
        "",
        "mapping values are not allowed here",
        "a ': ' inside a value: quote the value (\"...\") when it holds ': '",
    ),
    (
        "while parsing a block",
        "expected <block end>",
        "this line is indented differently from the lines above it: keys of one mapping, "
        "and the items of one list, must start at the same column",
    ),
    ("while parsing a flow mapping", "", "inside a {...} mapping: a missing ',' or closing '}'?"),
    ("while parsing a flow sequence", "", "inside a [...] list: a missing ',' or closing ']'?"),
)


def _plain(context: str, problem: str) -> str | None:
    for want_context, want_problem, text in _PLAIN:
        if context.startswith(want_context) and problem.startswith(want_problem):
            return text
    return None


def _syntax_error(exc: yaml.MarkedYAMLError) -> str:
    """Describe a syntax error where the mistake is, in plain words, without the line's text.

    The line named first is the one to fix. For scanner errors ("while scanning ...") that
    is where the scanned token starts (an unclosed quote, a key without ':'); for parser
    errors ("while parsing ...") it is where parsing broke (the mis-indented line), and the
    start of the enclosing block follows in brackets. PyYAML's own text comes last, for
    searching. The text of the line is never quoted: it could be a password.
    """
    problem = exc.problem or "syntax error"
    context = exc.context or ""
    scanning = context.startswith("while scanning") and exc.context_mark is not None
    first = exc.context_mark if scanning else (exc.problem_mark or exc.context_mark)
    other = exc.problem_mark if scanning else exc.context_mark
    where = _where(first)
    plain = _plain(context, problem) or "invalid YAML"
    if other is not None and first is not None and other.line != first.line:
        relation = "noticed at" if scanning else "the enclosing block starts at"
        plain += f" ({relation} {_where(other)})"
    original = f"{context}: {problem}" if context else problem
    return f"{where + ': ' if where else ''}{plain}; the YAML parser says: {original}"


def yaml_error_message(exc: yaml.YAMLError) -> str:
    """Describe a YAML error for a person: the line to fix first, then what is wrong there.

    For every YAML file the project reads (the exporter config, the alert tunables), so
    they all report syntax errors alike and never echo the text of the line.
    """
    if isinstance(exc, yaml.MarkedYAMLError):
        return _syntax_error(exc)
    return f"invalid YAML: {type(exc).__name__}"


def read_yaml(text: str, env: Mapping[str, str] | None, errors: list[str]) -> object:
    """Parse one YAML document into plain values, appending every problem to ``errors``.

    ``env`` supplies ``${VAR}`` values; None expands nothing. Syntax errors carry line
    and column but never the offending line's text.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        errors.append("invalid YAML: nested too deeply")
        return None
    except yaml.YAMLError as exc:
        errors.append(yaml_error_message(exc))
        return None
    if root is None:
        return None
    try:
        return _Converter(env, errors).convert(root, "")
    except RecursionError:
        errors.append("invalid YAML: nested too deeply")
        return None
    except _TooLargeError:
        errors.append(f"the document expands to more than {MAX_NODES} YAML nodes (aliases?)")
        return None
