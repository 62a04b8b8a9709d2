"""Sync's config file: JSON with // comments, the webui keys, and errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_exporter.simulator.syncconf import (
    SyncConfig,
    SyncConfigError,
    load_sync_config,
    parse_listen,
    parse_sync_config,
    strip_comments,
)

#: The reference document's sample, comments and all (storage_path made relative).
SAMPLE = """{
    // path to folder where Sync will store its internal data,
    // folder must exist on disk
    "storage_path" : "state",

    // run Sync in GUI-less mode
    "use_gui" : false,

    "webui" : {
        // IP address and port to access HTTP API
        "listen" : "127.0.0.1:8888",
        // login and password for HTTP basic authentication
        "login" : "api",
        "password" : "secret",
        // replace xxx with API key received from BitTorrent
        "api_key" : "xxx"
    }
}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "state").mkdir(exist_ok=True)
    path = tmp_path / "sync.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_reference_sample(tmp_path: Path) -> None:
    conf = load_sync_config(write(tmp_path, SAMPLE))
    assert conf == SyncConfig(
        storage_path=tmp_path / "state",
        listen_host="127.0.0.1",
        listen_port=8888,
        login="api",
        password="secret",
        api_key="xxx",
    )
    assert "secret" not in repr(conf)
    assert "xxx" not in repr(conf)


def test_comment_markers_inside_strings_are_kept() -> None:
    text = '{"a": "http://x//y", "b": "q\\"//not a comment", // real one\n "c": 1}'
    assert json.loads(strip_comments(text)) == {
        "a": "http://x//y",
        "b": 'q"//not a comment',
        "c": 1,
    }


def test_comments_keep_line_numbers_in_errors(tmp_path: Path) -> None:
    text = '{\n  // comment\n  "storage_path": "state"\n  "webui": {}\n}'
    with pytest.raises(SyncConfigError, match=r"sync.conf: not valid JSON at line 4 column 3"):
        load_sync_config(write(tmp_path, text))


def test_block_comments_are_not_sync_syntax(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError, match="not valid JSON at line 1"):
        load_sync_config(write(tmp_path, '{/* no */ "storage_path": "state"}'))


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8888", ("127.0.0.1", 8888)),
        ("0.0.0.0:8888", ("0.0.0.0", 8888)),  # noqa: S104 - parsing, not binding
        (":8888", ("0.0.0.0", 8888)),  # noqa: S104
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_listen_forms(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["8888", "host:", "host:http", "1.2.3.4:70000", "::1:80", ""])
def test_bad_listen_names_the_key(tmp_path: Path, listen: str) -> None:
    text = json.dumps({"storage_path": "state", "webui": {"listen": listen, "api_key": "k"}})
    with pytest.raises(SyncConfigError, match=r"sync.conf: webui.listen: "):
        load_sync_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"webui": {}}, "storage_path: required"),
        ({"storage_path": "missing", "webui": {}}, "storage_path: .*missing is not an existing"),
        ({"storage_path": 5, "webui": {}}, "storage_path: expected a string, got 5"),
        ({"storage_path": "state"}, "webui: required"),
        ({"storage_path": "state", "webui": []}, "webui: required"),
        ({"storage_path": "state", "webui": {"login": "api"}}, "webui.password: required"),
        ({"storage_path": "state", "webui": {"password": "pw"}}, "webui.login: required"),
        (
            {"storage_path": "state", "webui": {"login": ["api"], "password": "p"}},
            r'webui.login: expected a string, got \["api"\]',
        ),
        ({"storage_path": "state", "shared_folders": [], "webui": {}}, "shared_folders: "),
    ],
)
def test_errors_name_the_key(tmp_path: Path, config: dict[str, object], message: str) -> None:
    with pytest.raises(SyncConfigError, match=rf"^{tmp_path / 'sync.conf'}: {message}"):
        load_sync_config(write(tmp_path, json.dumps(config)))


def test_secret_values_are_never_echoed(tmp_path: Path) -> None:
    config = {
        "storage_path": "state",
        "webui": {"login": "api", "password": 12345678, "api_key": 98765432},
    }
    with pytest.raises(SyncConfigError) as caught:
        load_sync_config(write(tmp_path, json.dumps(config)))
    assert str(caught.value).endswith("webui.password: expected a string")
    assert "12345678" not in str(caught.value)


def test_defaults_and_optional_keys(tmp_path: Path) -> None:
    conf = parse_sync_config(
        '{"storage_path": ".", "device_name": "nas", "webui": {}}', base=tmp_path
    )
    assert conf == SyncConfig(storage_path=tmp_path / ".", device_name="nas")
    empty_key = parse_sync_config('{"storage_path": ".", "webui": {"api_key": ""}}', base=tmp_path)
    assert empty_key.api_key is None  # an empty key leaves the API disabled


def test_top_level_must_be_an_object_and_readable(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError, match="expected a JSON object"):
        parse_sync_config("[]", base=tmp_path)
    with pytest.raises(SyncConfigError, match="cannot read"):
        load_sync_config(tmp_path / "absent.conf")
