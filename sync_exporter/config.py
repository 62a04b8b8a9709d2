"""Exporter configuration: strict YAML in, a frozen, validated :class:`Config` out.

Every problem in a file is found in one pass and reported together, each message
prefixed with the key path it is about (``nodes[2].url: ...``), so a user fixes a config
in one round instead of one error per restart. No message ever quotes a password: values
are echoed only for keys that cannot hold one. ``docs/configuration.md`` is the reference
for users; this module is its schema over the document kernel
(:mod:`sync_exporter.document`), which reads the YAML and the common field types.
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from sync_exporter.credentials import (
    FilePassword,
    LiteralPassword,
    Password,
    SecretUnavailableError,
)
from sync_exporter.document import (
    INVALID,
    DocumentError,
    Fields,
    Schema,
    describe,
    key_path,
    parse_duration,
    read_document,
    show,
)

__all__ = [
    "API_CHOICES",
    "DEFAULT_API",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RESPONSE_ITEMS",
    "DEFAULT_TIMEOUT",
    "Config",
    "ConfigError",
    "FilePassword",
    "FolderRule",
    "FrozenMapping",
    "LiteralPassword",
    "NodeConfig",
    "Password",
    "SecretUnavailableError",
    "TLSConfig",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
]

#: Per-node request timeout when neither the node nor ``defaults`` sets one (seconds).
DEFAULT_TIMEOUT = 8.0
#: Concurrent API requests per node when neither the node nor ``defaults`` sets it.
DEFAULT_MAX_CONCURRENCY = 8
#: Which Sync API to read a node through when neither the node nor ``defaults`` says.
DEFAULT_API = "auto"
#: The values of ``api``: API v1 (``/api``, needs ``webui.api_key``), the web GUI API
#: (``/gui/``, the Web UI's login; all that Resilio Sync 2.x/3.x nodes without a Business
#: license answer), or ``auto``: v1 where it answers, the GUI API where v1 is disabled.
API_CHOICES = ("auto", "v1", "gui")
#: Bytes of answers (read and inflated) the exporter holds for one node at once, across
#: all its requests in flight; also the largest single answer (docs/security.md).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: JSON values one answer may decode into (about 30,000 get_folders entries).
DEFAULT_MAX_RESPONSE_ITEMS = 250_000
#: Lower bounds: below these a typo (``max_response_bytes: 32`` meant as MiB) would make
#: every answer fail.
MIN_RESPONSE_BYTES = 64 * 1024
MIN_RESPONSE_ITEMS = 1000

_K = TypeVar("_K")
_V = TypeVar("_V")


class ConfigError(DocumentError):
    """The configuration is invalid; ``errors`` lists every problem with its key path.

    ``source`` (optional) names the file; ``str()`` then prefixes each line with it.
    """


class FrozenMapping(Mapping[_K, _V]):
    """A read-only, hashable dict, so frozen configs stay hashable as well as comparable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[_K, _V] | None = None) -> None:
        self._data: dict[_K, _V] = dict(data or {})

    def __getitem__(self, key: _K) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """How to talk HTTPS to a node."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class FolderRule:
    """Per-folder settings, keyed by the folder's ``dir`` as the node reports it."""

    alias: str | None = None
    exclude: bool = False


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One Sync node to scrape.

    ``password`` is a :class:`Password`: call ``reveal()`` when building a request (it may
    raise :class:`SecretUnavailableError` if a password file vanished); its repr is
    ``<secret>``.
    """

    name: str
    url: str  # base URL without trailing slash, e.g. http://127.0.0.1:8888 (webui.listen)
    username: str
    password: Password
    timeout: float = DEFAULT_TIMEOUT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_response_items: int = DEFAULT_MAX_RESPONSE_ITEMS
    tls: TLSConfig = field(default_factory=TLSConfig)
    folders: Mapping[str, FolderRule] = field(default_factory=FrozenMapping)
    peers: bool = True
    #: ``auto``, ``v1`` or ``gui`` (see :data:`API_CHOICES`).
    api: str = DEFAULT_API


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    nodes: tuple[NodeConfig, ...]

    def node(self, name: str) -> NodeConfig | None:
        """Return the node called ``name``, or None."""
        return next((n for n in self.nodes if n.name == name), None)

    def peers(self) -> dict[str, bool]:
        """Each node's ``peers`` setting by name: all the renderers need of the config."""
        return {n.name: n.peers for n in self.nodes}


# --------------------------------------------------------------------------- durations

# parse_duration is the kernel's, the one grammar of every document.


def format_duration(seconds: float) -> str:
    """Return ``seconds`` the way it is written in the config: ``8s``, ``500ms``, ``1m30s``."""
    millis = round(seconds * 1000)
    if millis % 1000:
        return f"{millis}ms" if millis < 1000 else f"{millis / 1000:g}s"
    whole = millis // 1000
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


_SIZE = re.compile(r"(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", re.ASCII)
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1 << 10,
    "MB": 1000**2,
    "MiB": 1 << 20,
    "GB": 1000**3,
    "GiB": 1 << 30,
}


def parse_size(value: object) -> int:
    """Return ``value`` in bytes: a whole number, or ``"64MiB"``, ``"512KiB"``, ``"1GB"``.

    Raises ValueError with a message fit for users (never quoting a long value).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match is not None:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ValueError(
        f"must be a size in bytes, like 33554432 or 32MiB (units B, KB, KiB, MB, MiB, GB, "
        f"GiB), not {show(value)}"
    )


# --------------------------------------------------------------------------- validation

_ROOT = Schema(optional=("defaults", "nodes"))
_SHARED_KEYS = (
    "username",
    "password",
    "password_file",
    "timeout",
    "max_concurrency",
    "max_response_bytes",
    "max_response_items",
    "peers",
    "tls",
    "api",
)
_DEFAULTS = Schema(optional=_SHARED_KEYS)
#: name and url are required, but checked by the node itself (its messages say what to
#: write), so every key is optional here.
_NODE = Schema(optional=("name", "url", *_SHARED_KEYS, "folders"))
_TLS = Schema(optional=("ca_file", "cert_file", "key_file", "insecure_skip_verify"))
_FOLDER = Schema(optional=("alias", "exclude"))
_NODE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(slots=True)
class _Inherited:
    """Settings a node may inherit from ``defaults`` (None: not set there)."""

    username: str | None = None
    username_given: bool = False
    password: Password | None = None
    password_count: int = 0  # how many of password / password_file were given
    timeout: float | None = None
    max_concurrency: int | None = None
    max_response_bytes: int | None = None
    max_response_items: int | None = None
    peers: bool | None = None
    tls: TLSConfig | None = None
    api: str | None = None
    #: defaults had errors: nodes then skip "no username/password" (likely a cascade).
    broken: bool = False


class _Validator(Fields):
    """The kernel's field readers plus the config's own: paths, URLs, TLS, folders, nodes."""

    def __init__(self, base_dir: Path) -> None:
        super().__init__()
        self.base_dir = base_dir

    def size(self, value: object, path: str, minimum: int) -> int | None:
        """Return a byte size of at least ``minimum`` (see :func:`parse_size`)."""
        if value is INVALID:
            return None
        try:
            size = parse_size(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None
        if size < minimum:
            self.error(path, f"must be at least {minimum} bytes ({minimum >> 10}KiB)")
            return None
        return size

    def path(self, value: object, path: str) -> Path | None:
        """Return ``value`` as an absolute path, relative ones taken from the config's folder."""
        text = self.string(value, path)
        if text is None:
            return None
        return self.base_dir / Path(text)

    def readable_file(self, value: object, path: str) -> Path | None:
        """Return the path if it names a regular file this process can read."""
        file = self.path(value, path)
        if file is None:
            return None
        try:
            if not stat.S_ISREG(file.stat().st_mode):  # a FIFO would hang the open below
                self.error(path, f"{file} is not a regular file")
                return None
            with file.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            self.error(path, f"cannot read {file}: {exc.strerror or exc}")
            return None
        return file

    def url(self, value: object, path: str) -> str | None:
        """Return the node's base URL without a trailing slash."""
        text = self.string(value, path)
        if text is None:
            return None
        if any(c.isspace() for c in text):
            self.error(path, "must not contain spaces")
            return None
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            self.error(path, f'"{_shown_url(text)}" is not a valid URL (bad host or port)')
            return None
        if "@" in parts.netloc:
            self.error(
                path,
                "must not contain a user name or password: use username and "
                "password or password_file",
            )
            return None
        problem = None
        if parts.scheme.lower() not in ("http", "https"):
            problem = "must start with http:// or https://"
        elif not parts.hostname:
            problem = "has no host"
        elif port == 0:
            problem = "has port 0"
        elif "?" in text or "#" in text:
            problem = "must not have a query (?) or fragment (#)"
        elif parts.path.rstrip("/").endswith("/api"):
            problem = "must be the node's base URL: the exporter adds /api itself"
        if problem is not None:
            self.error(path, f'"{_shown_url(text)}" {problem}')
            return None
        return text.rstrip("/")

    def tls(self, value: object, path: str) -> TLSConfig | None:
        block = self.mapping(value, path, _TLS)
        if value is INVALID or (value is not None and not isinstance(value, dict)):
            return None
        before = len(self.errors)
        ca = self.readable_file(block["ca_file"], f"{path}.ca_file") if "ca_file" in block else None
        cert = (
            self.readable_file(block["cert_file"], f"{path}.cert_file")
            if "cert_file" in block
            else None
        )
        key = (
            self.readable_file(block["key_file"], f"{path}.key_file")
            if "key_file" in block
            else None
        )
        insecure = False
        if "insecure_skip_verify" in block:
            insecure = bool(
                self.boolean(block["insecure_skip_verify"], f"{path}.insecure_skip_verify")
            )
        if ("cert_file" in block) != ("key_file" in block):
            self.error(path, "cert_file and key_file must be given together")
        if ca is not None:
            try:
                ssl.create_default_context().load_verify_locations(cafile=str(ca))
            except (ssl.SSLError, OSError, ValueError):
                self.error(f"{path}.ca_file", f"{ca} holds no PEM certificate")
        if cert is not None and key is not None:
            try:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.load_cert_chain(cert, key, password=_no_key_password)
            except (ssl.SSLError, OSError, ValueError):
                self.error(
                    path,
                    "cert_file and key_file must be a PEM certificate and its unencrypted "
                    "private key",
                )
        if len(self.errors) > before:
            return None
        return TLSConfig(ca_file=ca, cert_file=cert, key_file=key, insecure_skip_verify=insecure)

    def folders(self, value: object, path: str) -> FrozenMapping[str, FolderRule]:
        if value is None or value is INVALID:
            return FrozenMapping()
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping of folder path to settings, not {describe(value)}")
            return FrozenMapping()
        rules: dict[str, FolderRule] = {}
        alias_of: dict[str, str] = {}
        for folder, settings in value.items():
            here = key_path(path, folder)
            if not folder.strip():
                self.error(here, "folder path is empty")
                continue
            block = self.mapping(settings, here, _FOLDER)
            if settings is INVALID or (settings is not None and not isinstance(settings, dict)):
                continue
            if not settings:
                self.error(here, "set alias or exclude (or remove the entry)")
                continue
            if not block:  # only unknown keys, reported above
                continue
            alias = self.string(block["alias"], f"{here}.alias") if "alias" in block else None
            exclude = (
                bool(self.boolean(block["exclude"], f"{here}.exclude"))
                if "exclude" in block
                else False
            )
            if alias is not None and exclude:
                self.error(here, "an excluded folder cannot have an alias")
                continue
            if alias is not None:
                if alias in alias_of:
                    self.error(
                        f"{here}.alias", f'"{alias}" is already the alias of {alias_of[alias]}'
                    )
                    continue
                alias_of[alias] = f'"{folder}"'
            rules[folder] = FolderRule(alias=alias, exclude=exclude)
        return FrozenMapping(rules)

    def shared(self, block: dict[str, object], path: str) -> _Inherited:
        """Parse the keys a node and ``defaults`` have in common."""
        shared = _Inherited()
        if "username" in block:
            shared.username_given = True
            shared.username = self.string(block["username"], f"{path}.username")
            if shared.username is not None and ":" in shared.username:
                self.error(f"{path}.username", "must not contain ':' (HTTP basic auth)")
                shared.username = None
        if "password" in block:
            shared.password_count += 1
            text = self.string(block["password"], f"{path}.password", secret=True)
            shared.password = None if text is None else LiteralPassword(text)
        if "password_file" in block:
            shared.password_count += 1
            file = self.path(block["password_file"], f"{path}.password_file")
            if file is not None:
                source = FilePassword(file)
                try:
                    source.reveal()
                except SecretUnavailableError as exc:
                    self.error(f"{path}.password_file", str(exc))
                else:
                    shared.password = source
        if shared.password_count == 2:
            self.error(path, "set password or password_file, not both")
            shared.password = None
        if "timeout" in block:
            shared.timeout = self.duration(block["timeout"], f"{path}.timeout")
        if "max_concurrency" in block:
            shared.max_concurrency = self.positive_int(
                block["max_concurrency"], f"{path}.max_concurrency"
            )
        if "max_response_bytes" in block:
            shared.max_response_bytes = self.size(
                block["max_response_bytes"], f"{path}.max_response_bytes", MIN_RESPONSE_BYTES
            )
        if "max_response_items" in block:
            items = self.positive_int(block["max_response_items"], f"{path}.max_response_items")
            if items is not None and items < MIN_RESPONSE_ITEMS:
                self.error(f"{path}.max_response_items", f"must be at least {MIN_RESPONSE_ITEMS}")
                items = None
            shared.max_response_items = items
        if "peers" in block:
            shared.peers = self.boolean(block["peers"], f"{path}.peers")
        if "api" in block:
            shared.api = self.choice(block["api"], f"{path}.api", API_CHOICES)
        return shared

    def node(self, value: object, path: str, defaults: _Inherited) -> NodeConfig | None:
        if value is INVALID:
            return None
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping with name and url, not {describe(value)}")
            return None
        before = len(self.errors)
        block = self.mapping(value, path, _NODE)
        name = None
        if "name" not in block:
            self.error(f"{path}.name", "missing (the node label, e.g. nas)")
        else:
            name = self.string(block["name"], f"{path}.name")
            if name is not None and not _NODE_NAME.fullmatch(name):
                self.error(f"{path}.name", f'"{name}" may only use letters, digits, _ . and -')
        url = None
        if "url" not in block:
            self.error(
                f"{path}.url", "missing (the node's webui address, e.g. http://10.0.0.5:8888)"
            )
        else:
            url = self.url(block["url"], f"{path}.url")
        own = self.shared(block, path)
        https = url is not None and url.lower().startswith("https:")
        tls = TLSConfig()
        if "tls" in block:
            parsed = self.tls(block["tls"], f"{path}.tls")
            if url is not None and not https:
                self.error(f"{path}.tls", "TLS settings need an https:// URL")
            tls = parsed or tls
        elif https and defaults.tls is not None:
            tls = defaults.tls
        folders = self.folders(block.get("folders"), f"{path}.folders")
        username = own.username if "username" in block else defaults.username
        if "username" not in block and not defaults.username_given and not defaults.broken:
            self.error(path, "no username: set username here or in defaults")
        password = own.password if own.password_count else defaults.password
        if not own.password_count and not defaults.password_count and not defaults.broken:
            self.error(path, "no password: set password or password_file here or in defaults")
        if len(self.errors) > before:
            return None
        if name is None or url is None or username is None or password is None:
            return None
        return NodeConfig(
            name=name,
            url=url,
            username=username,
            password=password,
            timeout=_first(own.timeout, defaults.timeout, DEFAULT_TIMEOUT),
            max_concurrency=_first(
                own.max_concurrency, defaults.max_concurrency, DEFAULT_MAX_CONCURRENCY
            ),
            max_response_bytes=_first(
                own.max_response_bytes, defaults.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES
            ),
            max_response_items=_first(
                own.max_response_items, defaults.max_response_items, DEFAULT_MAX_RESPONSE_ITEMS
            ),
            tls=tls,
            folders=folders,
            peers=_first(own.peers, defaults.peers, True),
            api=_first(own.api, defaults.api, DEFAULT_API),
        )


#: The key-path validator, shared with the web config file (``webconfig.py``) so both files
#: report problems alike.
Validator = _Validator


def _first(*values: _V | None) -> _V:
    """Return the first value that is set (the last argument is the built-in default)."""
    return next(v for v in values if v is not None)


def _strip_userinfo(url: str) -> str:
    """Drop anything before ``@`` in the authority so a password in a URL is never shown."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rsplit("@", 1)[-1]
    authority, slash, tail = rest.partition("/")
    return f"{scheme}://{authority.rsplit('@', 1)[-1]}{slash}{tail}"


def _shown_url(url: str) -> str:
    """``url`` as error messages show it: no user info, and ``?...`` for a query or fragment.

    Either may carry a token (``?token=...``), so neither is ever quoted.
    """
    base = re.split(r"[?#]", url, maxsplit=1)[0]
    return _strip_userinfo(base) + (url[len(base)] + "..." if base != url else "")


def _no_key_password() -> str:
    """Refuse encrypted private keys instead of letting OpenSSL prompt on the terminal."""
    raise ValueError("encrypted private keys are not supported")


def parse_config(text: str, *, source: str, env: Mapping[str, str], base_dir: Path) -> Config:
    """Validate a config document; raise ConfigError listing every problem.

    Pure apart from reading the files the config names (password files, TLS files):
    ``env`` supplies ``${VAR}`` values and ``base_dir`` anchors relative paths.
    """
    check = _Validator(base_dir)
    tree = read_document(text, check.errors, env)
    if tree is None:
        if not check.errors:
            check.error("", "the file is empty: it needs a nodes list")
        raise ConfigError(check.errors, source=source)
    root = check.mapping(tree, "", _ROOT)
    if not isinstance(tree, dict):
        raise ConfigError(check.errors, source=source)
    defaults = _Inherited()
    if "defaults" in root:
        before = len(check.errors)
        block = check.mapping(root["defaults"], "defaults", _DEFAULTS)
        defaults = check.shared(block, "defaults")
        if "tls" in block:
            defaults.tls = check.tls(block["tls"], "defaults.tls")
        defaults.broken = len(check.errors) > before or any(
            e.startswith(("defaults:", "defaults.")) for e in check.errors
        )
    nodes: list[NodeConfig] = []
    listed = root.get("nodes")
    if "nodes" not in root:
        check.error("nodes", "missing: list at least one node")
    elif listed is INVALID:
        pass  # already reported
    elif not isinstance(listed, list):
        check.error("nodes", f"must be a list of nodes, not {describe(listed)}")
    elif not listed:
        check.error("nodes", "is empty: list at least one node")
    else:
        first_index: dict[str, int] = {}
        for index, item in enumerate(listed):
            path = key_path("nodes", index)
            node = check.node(item, path, defaults)
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in first_index:
                check.error(
                    f"{path}.name", f'"{name}" is already used by nodes[{first_index[name]}]'
                )
            elif isinstance(name, str):
                first_index[name] = index
            if node is not None:
                nodes.append(node)
    if check.errors:
        raise ConfigError(check.errors, source=source)
    return Config(nodes=tuple(nodes))


def load_config(path: Path) -> Config:
    """Load and validate ``path``; raise ConfigError listing every problem.

    ``${VAR}`` values come from the process environment; relative paths in the file are
    taken from the directory the file is in.
    """
    text = read_config_file(path)
    return parse_config(text, source=str(path), env=os.environ, base_dir=path.absolute().parent)


def read_config_file(path: Path) -> str:
    """Return the text of a config file (this one or the web config), or raise ConfigError."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(
            [f"cannot read the file: {exc.strerror or exc}"], source=str(path)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], source=str(path)) from None
