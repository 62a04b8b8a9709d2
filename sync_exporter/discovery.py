"""Prometheus HTTP service discovery (``GET /sd``): one target group per configured node.

Prometheus' ``http_sd_configs`` reads a JSON list of ``{"targets": [...], "labels": {...}}``
groups (https://prometheus.io/docs/prometheus/latest/http_sd/). Each group here points at
the exporter itself, under the address the client used to reach it, and carries the
labels the multi-target pattern otherwise needs relabeling rules for: ``__param_target``
and ``instance`` (the node name), ``__metrics_path__`` (``/probe``) and ``__scheme__``. A
Prometheus that knows only the exporter's address so scrapes every node through
``/probe``, and a node added to the exporter's config appears at its next refresh.

The address comes from the request's ``Host`` header, which the client controls; it is
accepted only when it is a plain ``host[:port]`` (a DNS name, an IPv4 address or a
bracketed IPv6 address), so nothing else can be injected into the answer.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from sync_exporter.config import NodeConfig

#: The path Prometheus scrapes for one node (the multi-target endpoint).
PROBE_PATH = "/probe"

#: RFC 1123 host names: labels of letters, digits and hyphens (underscores are accepted
#: too, as Kubernetes and Docker names sometimes carry them), dot-separated.
_DNS_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?",
    re.ASCII,
)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


class BadHostError(ValueError):
    """The ``Host`` header is not a plain ``host[:port]``."""


def target_address(host_header: str | None) -> str:
    """Return the ``Host`` header as a Prometheus target address, or raise BadHostError.

    ``nas-exporter:9888``, ``10.0.0.5:9888``, ``[::1]:9888`` and a host without port (the
    scheme's default port then applies) pass; anything else (user info, paths, spaces,
    quotes, a port out of range, an empty value) is refused rather than repaired.
    """
    if not host_header:
        raise BadHostError("the request has no Host header")
    text = host_header
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise BadHostError("unbalanced [ in the Host header")
        host, rest = text[1:end], text[end + 1 :]
        try:
            if ipaddress.ip_address(host).version != 6:
                raise ValueError
        except ValueError:
            raise BadHostError("[...] in the Host header must hold an IPv6 address") from None
    else:
        host, colon, port = text.partition(":")
        rest = colon + port
        if not _DNS_NAME.fullmatch(host):
            raise BadHostError("the Host header is not a host name or IP address")
    if rest:
        port = rest[1:]
        if not rest.startswith(":") or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
            raise BadHostError("the port in the Host header is not a number from 1 to 65535")
    return text


def target_groups(
    nodes: Sequence[NodeConfig], address: str, scheme: str
) -> list[dict[str, object]]:
    """Return the ``http_sd`` answer: one group per node, all pointing at ``address``."""
    return [
        {
            "targets": [address],
            "labels": {
                "__param_target": node.name,
                "instance": node.name,
                "__metrics_path__": PROBE_PATH,
                "__scheme__": scheme,
            },
        }
        for node in nodes
    ]
