"""Property test: any config text gives a Config or a ConfigError that never shows the password.

Hypothesis writes config documents from the real keys with values of every kind,
including YAML tags (``!!float``, ``!!int``, ``!!binary``, ``!!set``, ``!!timestamp``...),
URLs with queries and fragments, and raw text; the loader must answer with a
:class:`Config` or a :class:`ConfigError` (never another exception, which would print a
traceback), and no message may contain the password or the URL's token.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_exporter.config import Config, ConfigError, parse_config

PASSWORD = "Pw-7f3a9c-secret"
TOKEN = "tok-91b2e4-secret"

TAGS = ["", "!!str ", "!!int ", "!!float ", "!!bool ", "!!binary ", "!!null ", "!!timestamp "]
PLAIN = [
    "1e3",
    "8",
    "-1",
    "8s",
    "32MiB",
    "yes",
    "2026-13-45",
    "null",
    "~",
    "[a, b]",
    "{a: 1}",
    "aGVsbG8=",
]
#: URLs are only ever written under the url key: their query or fragment may hold a token.
URLS = [
    f"http://127.0.0.1:8888/?token={TOKEN}",
    f"http://127.0.0.1:8888/#{TOKEN}",
    f"ftp://127.0.0.1:8888/?token={TOKEN}",
    f"http://127.0.0.1:99999/?token={TOKEN}",
    "http://127.0.0.1:8888",
]
KEYS = [
    "username",
    "password",
    "timeout",
    "max_concurrency",
    "max_response_bytes",
    "max_response_items",
    "peers",
    "api",
    "url",
    "name",
    "bogus",
]

values = st.builds(lambda tag, text: f"{tag}{text}", st.sampled_from(TAGS), st.sampled_from(PLAIN))
#: The password is only ever written under the password key (tagged or not).
passwords = st.builds(lambda tag, text: f"{tag}{text}", st.sampled_from(TAGS), st.just(PASSWORD))


def _node(entries: dict[str, str], password: str | None, url: str | None) -> str:
    if password is not None:
        entries = {**entries, "password": password}
    if url is not None:
        entries = {**entries, "url": url}
    if not entries:
        return "  - {}"
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in entries.items())


nodes = st.builds(
    _node,
    st.dictionaries(st.sampled_from([k for k in KEYS if k not in ("password", "url")]), values),
    st.none() | passwords,
    st.none() | st.sampled_from(URLS),
)
documents = st.one_of(
    st.lists(nodes, max_size=3).map(lambda items: "nodes:\n" + "\n".join(items) + "\n"),
    st.builds(
        lambda password, node: f"defaults:\n  password: {password}\nnodes:\n{node}\n",
        passwords,
        nodes,
    ),
    st.text(max_size=200),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_config_text_gives_a_config_or_a_config_error(text: str) -> None:
    result: Config | ConfigError
    try:
        result = parse_config(text, source="cfg.yml", env={}, base_dir=Path("/nonexistent"))
    except ConfigError as exc:
        result = exc
    if isinstance(result, ConfigError):
        assert result.errors
        assert PASSWORD not in str(result)
        assert TOKEN not in str(result)
