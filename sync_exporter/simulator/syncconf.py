"""Sync's own configuration file (``btsync --config FILE``), read as a real node reads it.

The format is JSON with ``//`` line comments, as in the reference document's sample.
Only ``//`` comments are removed, and only outside strings, so ``"http://host"`` keeps
its slashes; ``/* */`` blocks appear in no Sync sample, so they are a JSON error here.
The simulator uses ``storage_path``, ``device_name`` and ``webui.listen``, ``.login``,
``.password``, ``.api_key``; every other key is accepted and ignored, as Sync ignores
what it does not know. Errors name the key and never echo a password or API key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SyncConfigError(Exception):
    """The Sync config file is unusable; the message names the file and the key."""


#: Where the web API listens when ``webui.listen`` is absent (desktop builds: loopback).
DEFAULT_LISTEN = "127.0.0.1:8888"


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """What the simulator takes from a Sync config file."""

    storage_path: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8888
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    #: None: the API is not enabled and answers HTTP 400, as on a real node.
    api_key: str | None = field(default=None, repr=False)
    device_name: str | None = None


def strip_comments(text: str) -> str:
    """Blank out ``//`` comments outside JSON strings, keeping line and column numbers."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def parse_listen(value: str) -> tuple[str, int]:
    """Split ``webui.listen`` ("127.0.0.1:8888", "0.0.0.0:8888", ":8888", "[::1]:8888").

    An empty host means every interface, as in Sync. Raises ValueError when malformed.
    """
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f'expected "HOST:PORT" such as "{DEFAULT_LISTEN}", got {value!r}')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host and not value.strip().startswith("["):
        raise ValueError(f'write an IPv6 address in brackets ("[::1]:8888"), got {value!r}')
    return host or "0.0.0.0", int(port_text)  # noqa: S104 - Sync's meaning of ":PORT"


def _string(table: dict[str, Any], key: str, where: str, *, secret: bool = False) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    shown = "" if secret else f", got {json.dumps(value)}"
    raise SyncConfigError(f"{where}{key}: expected a string{shown}")


def parse_sync_config(
    text: str, *, source: str = "<config>", base: Path | None = None
) -> SyncConfig:
    """Parse the text of a Sync config file; relative paths resolve against ``base``.

    Raises SyncConfigError with ``source`` and the offending key in the message.
    """
    try:
        raw = json.loads(strip_comments(text))
    except json.JSONDecodeError as exc:
        raise SyncConfigError(
            f"{source}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(raw, dict):
        raise SyncConfigError(f"{source}: expected a JSON object at the top level")
    try:
        return _build(raw, base or Path.cwd())
    except SyncConfigError as exc:
        raise SyncConfigError(f"{source}: {exc}") from None


def _build(raw: dict[str, Any], base: Path) -> SyncConfig:
    if "shared_folders" in raw:
        raise SyncConfigError(
            "shared_folders: a real node disables its web UI and API when folders are set "
            "in the config file; add folders with add_folder instead"
        )
    storage = _string(raw, "storage_path", "")
    if not storage:
        raise SyncConfigError("storage_path: required (the folder where Sync keeps its data)")
    storage_path = base / Path(storage).expanduser()
    if not storage_path.is_dir():
        raise SyncConfigError(f"storage_path: {storage_path} is not an existing directory")
    webui = raw.get("webui")
    if not isinstance(webui, dict):
        raise SyncConfigError("webui: required, an object with listen, login, password, api_key")
    listen = _string(webui, "listen", "webui.")
    listen = DEFAULT_LISTEN if listen is None else listen
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise SyncConfigError(f"webui.listen: {exc}") from None
    login = _string(webui, "login", "webui.")
    password = _string(webui, "password", "webui.", secret=True)
    if (login is None) != (password is None):
        missing = "webui.password" if password is None else "webui.login"
        raise SyncConfigError(f"{missing}: required when the other of login/password is set")
    api_key = _string(webui, "api_key", "webui.", secret=True)
    return SyncConfig(
        storage_path=storage_path,
        listen_host=host,
        listen_port=port,
        login=login,
        password=password,
        api_key=api_key or None,
        device_name=_string(raw, "device_name", ""),
    )


def load_sync_config(path: Path) -> SyncConfig:
    """Read and parse a Sync config file; relative paths resolve against its directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SyncConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_sync_config(text, source=str(path), base=path.parent.absolute())
