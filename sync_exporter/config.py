"""Exporter configuration: strict YAML in, a frozen, validated :class:`Config` out.

(Interface fixed by the lead; the loader is filled in by the config work.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` lists every problem with its key path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


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
    """One Sync node to scrape."""

    name: str
    url: str  # base URL, e.g. http://127.0.0.1:8888 (the node's webui.listen)
    username: str
    password: object  # a secret-holding source; see the config module for the real type
    timeout: float = 8.0
    max_concurrency: int = 8
    tls: TLSConfig = field(default_factory=TLSConfig)
    folders: Mapping[str, FolderRule] = field(default_factory=dict)
    peers: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    nodes: tuple[NodeConfig, ...]

    def node(self, name: str) -> NodeConfig | None:
        """Return the node called ``name``, or None."""
        return next((n for n in self.nodes if n.name == name), None)


def load_config(path: Path) -> Config:
    """Load and validate ``path``; raise ConfigError listing every problem."""
    raise NotImplementedError  # replaced by the config work
