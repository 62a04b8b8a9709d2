"""The config loader: what a valid file becomes, and the exact message for every mistake."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sync_exporter.config import (
    Config,
    ConfigError,
    FilePassword,
    FolderRule,
    LiteralPassword,
    NodeConfig,
    SecretUnavailableError,
    TLSConfig,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from sync_exporter.exporter_cli import check_config_file

TESTDATA = Path(__file__).parent / "testdata"
EXAMPLE = Path(__file__).parents[2] / "examples" / "config.yml"
ENV = {"SYNC_PASSWORD": "env-secret-value"}
#: Every secret value the test configs hold; no message may ever contain one.
SECRETS = ("literal-secret-value", "env-secret-value", "file-secret-value", "url-secret-value")

D = str(TESTDATA)
DURATION_HINT = (
    "use a number with ms, s, m, h, d or w (8s, 500ms, 1m30s, 7d) or a plain number of seconds"
)

SURROGATE = (
    "holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape, or an environment variable "
    "that is not UTF-8): not valid text"
)

#: testdata/bad-*.yml -> exactly the errors it must produce, in order.
BAD_CONFIGS: dict[str, list[str]] = {
    "bad-unknown-keys.yml": [
        "node: unknown key (did you mean nodes?)",
        "defaults.passwrd: unknown key (did you mean password?)",
        "nodes[0].timout: unknown key (did you mean timeout?)",
        "nodes[0].tls.verify: unknown key "
        "(allowed: ca_file, cert_file, key_file, insecure_skip_verify)",
    ],
    "bad-duplicate-keys.yml": [
        "nodes[0].url: duplicate key (line 5 and line 6)",
        'nodes[0].folders["/data"]: duplicate key (line 8 and line 9)',
    ],
    "bad-duplicate-names.yml": ['nodes[2].name: "nas" is already used by nodes[0]'],
    "bad-node-names.yml": [
        'nodes[0].name: "my nas" may only use letters, digits, _ . and -',
        "nodes[1].name: is empty",
        "nodes[2].name: must be a string (quote it), not a number",
        "nodes[3].name: missing (the node label, e.g. nas)",
        "nodes[4].url: missing (the node's webui address, e.g. http://10.0.0.5:8888)",
    ],
    "bad-urls.yml": [
        'nodes[0].url: "ftp://192.168.1.10:8888" must start with http:// or https://',
        "nodes[1].url: must not contain a user name or password: "
        "use username and password or password_file",
        'nodes[2].url: "http://192.168.1.10:8888/?..." must not have a query (?) or fragment (#)',
        'nodes[3].url: "http://192.168.1.10:8888/api" '
        "must be the node's base URL: the exporter adds /api itself",
        'nodes[4].url: "http://192.168.1.10:99999" is not a valid URL (bad host or port)',
        'nodes[5].url: "192.168.1.10:8888" must start with http:// or https://',
        'nodes[6].url: "http://" has no host',
        'nodes[7].url: "http://192.168.1.10:8888/#..." must not have a query (?) or fragment (#)',
    ],
    "bad-durations.yml": [
        f'defaults.timeout: "8x" is not a duration: {DURATION_HINT}',
        "nodes[0].timeout: must be a positive duration",
        f'nodes[1].timeout: "-1s" is not a duration: {DURATION_HINT}',
        "nodes[2].timeout: must be a duration like 8s, 500ms or 1m, not a boolean",
        f'nodes[3].timeout: "5 s" is not a duration: {DURATION_HINT}',
    ],
    "bad-concurrency.yml": [
        "defaults.max_concurrency: must be at least 1, not 0",
        "nodes[0].max_concurrency: must be at least 1, not -3",
        'nodes[1].max_concurrency: must be a whole number, not "many"',
        "nodes[2].max_concurrency: must be a whole number, not 2.5",
        'nodes[3].peers: must be true or false, not "sometimes"',
    ],
    "bad-passwords.yml": [
        "nodes[0]: set password or password_file, not both",
        "nodes[1]: no password: set password or password_file here or in defaults",
        f"nodes[2].password_file: cannot read password file {D}/secrets/nowhere.txt: "
        "No such file or directory",
        f"nodes[3].password_file: password file {D}/empty-password.txt is empty",
        f"nodes[4].password_file: password file {D}/tls is not a regular file (a directory): "
        "refusing to read it",
        "nodes[5].password: must be a string (quote it), not a number",
        "nodes[6].password: is empty",
    ],
    "bad-defaults-password-both.yml": ["defaults: set password or password_file, not both"],
    "bad-usernames.yml": [
        "nodes[0]: no username: set username here or in defaults",
        "nodes[1].username: must not contain ':' (HTTP basic auth)",
        "nodes[2].username: is empty",
    ],
    "bad-tls.yml": [
        "nodes[0].tls: TLS settings need an https:// URL",
        "nodes[1].tls: cert_file and key_file must be given together",
        f"nodes[2].tls.ca_file: cannot read {D}/tls/missing-ca.pem: No such file or directory",
        f"nodes[3].tls.ca_file: {D}/tls/not-pem.txt holds no PEM certificate",
        "nodes[4].tls: cert_file and key_file must be a PEM certificate and its "
        "unencrypted private key",
        'nodes[5].tls.insecure_skip_verify: must be true or false, not "maybe"',
        # Refused, not prompted for: nobody is at the terminal of a server.
        "nodes[6].tls: cert_file and key_file must be a PEM certificate and its "
        "unencrypted private key",
    ],
    "bad-folders.yml": [
        'nodes[0].folders["/volume1/Old Backup"].alias: '
        '"backup" is already the alias of "/volume1/Backup"',
        'nodes[0].folders["/volume1/Photos"].alias: is empty',
        'nodes[0].folders["/volume1/tmp"]: an excluded folder cannot have an alias',
        'nodes[0].folders["/volume1/Music"]: set alias or exclude (or remove the entry)',
        'nodes[0].folders["/volume1/Video"].hide: unknown key (allowed: alias, exclude)',
        "nodes[1].folders: must be a mapping of folder path to settings, not a list",
    ],
    "bad-env.yml": [
        "defaults.username: environment variable SYNC_USER is not set",
        "nodes[0].url: environment variable NAS_HOST is not set",
        "nodes[1].password: malformed ${...} reference: write ${NAME} with NAME made of "
        "letters, digits and _, or $$ for a literal $",
    ],
    "bad-yaml-syntax.yml": [
        "line 1, column 37: a quoted string starts here and is never closed (a missing "
        "closing quote?) (noticed at line 3, column 1); the YAML parser says: while scanning "
        "a quoted scalar: found unexpected end of stream"
    ],
    "bad-empty.yml": ["top level: the file is empty: it needs a nodes list"],
    "bad-no-nodes.yml": ["nodes: is empty: list at least one node"],
    "bad-structure.yml": [
        "defaults: must be a mapping, not a list",
        "nodes: must be a list of nodes, not a mapping",
    ],
    "bad-node-not-mapping.yml": ["nodes[0]: must be a mapping with name and url, not a string"],
    "bad-top-level.yml": ["top level: must be a mapping, not a list"],
    "bad-surrogates.yml": [
        f"nodes[0].username: {SURROGATE}",
        f"nodes[0].password: {SURROGATE}",
        f'nodes[0].folders["/volume1/Backup"].alias: {SURROGATE}',
        f"nodes[0].folders: {SURROGATE}",
    ],
    "bad-yaml-features.yml": [
        "defaults: YAML merge keys (<<) are not supported",
        "nodes[0].url: unsupported YAML tag !env",
        "nodes[1]: key on line 7 must be a string (quote it), not a number",
        "base: unknown key (allowed: defaults, nodes)",
    ],
}


def _parse(text: str, env: dict[str, str] | None = None, base_dir: Path = TESTDATA) -> Config:
    return parse_config(text, source="test.yml", env=ENV if env is None else env, base_dir=base_dir)


def _errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _parse(text, env)
    return caught.value.errors


def test_every_bad_config_is_in_the_table() -> None:
    on_disk = {p.name for p in TESTDATA.glob("bad-*.yml")}
    assert on_disk == set(BAD_CONFIGS)


@pytest.mark.parametrize(("name", "expected"), sorted(BAD_CONFIGS.items()))
def test_bad_config_reports_every_error_by_key_path(name: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            (TESTDATA / name).read_text(encoding="utf-8"),
            source=name,
            env=ENV,
            base_dir=TESTDATA,
        )
    assert caught.value.errors == expected
    assert caught.value.source == name
    assert str(caught.value).splitlines() == [f"{name}: {e}" for e in expected]


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_no_error_message_contains_a_secret(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            (TESTDATA / name).read_text(encoding="utf-8"),
            source=name,
            env=ENV,
            base_dir=TESTDATA,
        )
    for secret in SECRETS:
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.errors)


def test_secret_never_quoted_whatever_the_mistake() -> None:
    """Mistakes made *with* a password value: in a URL, unquoted number, bad reference."""
    text = """
defaults: {username: api}
nodes:
  - {name: a, url: "http://api:literal-secret-value@h:8888/x?y#z", password: x}
  - {name: b, url: "http://h:8888", password: "literal-secret-value${", bogus: literal-secret-value}
  - {name: c, url: "http://h:8888", password: ["literal-secret-value"]}
  - {name: d, url: "http://h:8888", password: "literal-secret-value", password_file: nowhere}
  - {name: e, url: "http://literal-secret-value@h:99999", password: x}
"""
    assert _errors(text) == [
        "nodes[1].password: malformed ${...} reference: write ${NAME} with NAME made of "
        "letters, digits and _, or $$ for a literal $",
        "nodes[0].url: must not contain a user name or password: "
        "use username and password or password_file",
        "nodes[1].bogus: unknown key (allowed: name, url, username, password, password_file, "
        "timeout, max_concurrency, max_response_bytes, max_response_items, peers, tls, api, "
        "folders)",
        "nodes[2].password: must be a string, not a list",
        f"nodes[3].password_file: cannot read password file {D}/nowhere: No such file or directory",
        "nodes[3]: set password or password_file, not both",
        'nodes[4].url: "http://h:99999" is not a valid URL (bad host or port)',
    ]


def test_full_config_with_defaults_and_overrides() -> None:
    config = _parse(
        """
defaults:
  username: api
  password_file: password.txt
  timeout: 5s
  max_concurrency: 4
  peers: false
  tls: {ca_file: tls/cert.pem}
nodes:
  - name: nas
    url: https://nas.example:8888/
    folders:
      /volume1/Backup: {alias: backup}
      /volume1/tmp: {exclude: true}
  - name: laptop
    url: http://192.168.1.20:8888
    username: admin
    password: ${SYNC_PASSWORD}
    timeout: 1m30s
    max_concurrency: 16
    peers: true
  - name: pi
    url: https://[fd00::5]:8888/sync
    tls: {cert_file: tls/cert.pem, key_file: tls/key.pem, insecure_skip_verify: true}
"""
    )
    nas, laptop, pi = config.nodes
    assert nas == NodeConfig(
        name="nas",
        url="https://nas.example:8888",
        username="api",
        password=FilePassword(TESTDATA / "password.txt"),
        timeout=5.0,
        max_concurrency=4,
        tls=TLSConfig(ca_file=TESTDATA / "tls/cert.pem"),
        folders={
            "/volume1/Backup": FolderRule(alias="backup"),
            "/volume1/tmp": FolderRule(exclude=True),
        },
        peers=False,
    )
    assert nas.password.reveal() == "file-secret-value"
    # http nodes do not inherit the defaults' TLS block.
    assert laptop == NodeConfig(
        name="laptop",
        url="http://192.168.1.20:8888",
        username="admin",
        password=LiteralPassword("env-secret-value"),
        timeout=90.0,
        max_concurrency=16,
        peers=True,
    )
    # A node's own tls block replaces the defaults' block as a whole.
    assert pi.url == "https://[fd00::5]:8888/sync"
    assert pi.tls == TLSConfig(
        cert_file=TESTDATA / "tls/cert.pem",
        key_file=TESTDATA / "tls/key.pem",
        insecure_skip_verify=True,
    )
    assert config.node("laptop") is laptop
    assert config.node("nowhere") is None


def test_built_in_defaults() -> None:
    (node,) = _parse('nodes: [{name: n, url: "http://h:8888", username: u, password: p}]').nodes
    assert (node.timeout, node.max_concurrency, node.peers) == (8.0, 8, True)
    assert node.tls == TLSConfig()
    assert dict(node.folders) == {}


def test_env_expansion_and_dollar_escape() -> None:
    env = {"USER": "admin", "PW": "a$b", "PORT": "8889", "N": "3", "PEERS": "false"}
    (node,) = _parse(
        """
nodes:
  - name: n
    url: http://h:${PORT}
    username: ${USER}
    password: "$${PW}-${PW}-$$-$HOME-${PW}${PW}"
    max_concurrency: ${N}
    peers: ${PEERS}
""",
        env=env,
    ).nodes
    assert node.url == "http://h:8889"
    assert node.username == "admin"
    # $$ is a literal $, a $ not followed by { or $ stays, values are not re-expanded.
    assert node.password.reveal() == "${PW}-a$b-$-$HOME-a$ba$b"
    assert node.max_concurrency == 3
    assert node.peers is False


def test_relative_paths_resolve_against_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "pw").write_text("rotated-secret\n", encoding="utf-8")
    path = conf_dir / "sync-exporter.yml"
    path.write_text(
        'nodes: [{name: n, url: "http://h:8888", username: u, password_file: pw}]',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    (node,) = load_config(Path("etc/sync-exporter.yml")).nodes
    assert node.password == FilePassword(conf_dir / "pw")
    assert node.password.reveal() == "rotated-secret"


def test_load_config_takes_env_from_the_process(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_TEST_PASSWORD", "from-the-environment")
    path = write_config(
        'nodes: [{name: n, url: "http://h:8888", username: u, password: "${SYNC_TEST_PASSWORD}"}]'
    )
    assert load_config(path).nodes[0].password.reveal() == "from-the-environment"


def test_load_config_unreadable_or_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_config(tmp_path / "absent.yml")
    assert missing.value.errors == ["cannot read the file: No such file or directory"]
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"nodes: [\xff]")
    with pytest.raises(ConfigError) as undecodable:
        load_config(binary)
    assert undecodable.value.errors == ["the file is not UTF-8 text"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8s", 8.0),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1.5s", 1.5),
        ("10", 10.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "1x", "-1s", "0s", "0", 0, -2, True, None, "1s 2s"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(8.0, "8s"), (0.5, "500ms"), (90.0, "1m30s"), (1.5, "1.5s"), (7200, "2h")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_secrets_print_as_secret(testdata: Path) -> None:
    config = _parse(
        """
nodes:
  - {name: a, url: "http://h:8888", username: u, password: literal-secret-value}
  - {name: b, url: "http://h:8888", username: u, password_file: password.txt}
"""
    )
    a, b = config.nodes
    for shown in (repr(config), str(config), repr(a), f"{a.password}", str(b.password), f"{b}"):
        assert "literal-secret-value" not in shown
        assert "file-secret-value" not in shown
    assert repr(a.password) == str(a.password) == f"{b.password}" == "<secret>"
    assert "password=<secret>" in repr(a)


def test_config_equality_tells_which_nodes_changed() -> None:
    text = """
nodes:
  - {name: a, url: "http://h:8888", username: u, password: one, folders: {/x: {alias: x}}}
  - {name: b, url: "http://h:8889", username: u, password_file: password.txt}
"""
    first, again = _parse(text), _parse(text)
    assert first == again
    assert hash(first) == hash(again)  # usable as a dict key (e.g. per-node sessions)
    changed = _parse(text.replace("password: one", "password: two"))
    assert changed != first
    assert changed.nodes[0] != first.nodes[0]
    assert changed.nodes[1] == first.nodes[1]
    realiased = _parse(text.replace("alias: x", "alias: y"))
    assert realiased.nodes[0] != first.nodes[0]


def test_password_file_rotation_without_reload(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("first-value\n", encoding="utf-8")
    source = FilePassword(secret)
    assert source.reveal() == "first-value"
    # Same size, rewritten in place: the mtime differs, so the new value is read.
    secret.write_text("other-value\n", encoding="utf-8")
    stat = secret.stat()
    os.utime(secret, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert source.reveal() == "other-value"
    # Atomic replace by rename, as Kubernetes does for mounted secrets.
    staged = tmp_path / "pw.new"
    staged.write_text("  third-value  \r\n", encoding="utf-8")
    staged.replace(secret)
    assert source.reveal() == "third-value"


def test_password_file_unchanged_is_not_reread(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("cached-value", encoding="utf-8")
    source = FilePassword(secret)
    assert source.reveal() == "cached-value"
    stat = secret.stat()
    # Overwrite with same size and restore the stamp: proves the stamp, not the read, decides.
    secret.write_text("edited-value", encoding="utf-8")
    os.utime(secret, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.reveal() == "cached-value"


def test_password_file_that_disappears_gives_a_clear_secret_free_error(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("vanishing-value", encoding="utf-8")
    source = FilePassword(secret)
    assert source.reveal() == "vanishing-value"
    secret.unlink()
    with pytest.raises(SecretUnavailableError) as caught:
        source.reveal()
    assert str(caught.value) == f"cannot read password file {secret}: No such file or directory"
    secret.write_text("", encoding="utf-8")
    with pytest.raises(SecretUnavailableError, match="is empty"):
        source.reveal()
    secret.write_bytes(b"\xff\xfe")
    with pytest.raises(SecretUnavailableError, match="is not UTF-8 text"):
        source.reveal()


def test_check_config_file_valid(testdata: Path) -> None:
    out = io.StringIO()
    path = testdata / "good-minimal.yml"
    assert check_config_file(path, out) == 0
    assert out.getvalue() == f"SUCCESS: {path} is valid: 2 nodes (nas, pi)\n"


def test_check_config_file_invalid(testdata: Path) -> None:
    out = io.StringIO()
    path = testdata / "bad-duplicate-names.yml"
    assert check_config_file(path, out) == 2
    assert out.getvalue() == (
        f'FAILED: {path} has 1 error:\n  nodes[2].name: "nas" is already used by nodes[0]\n'
    )


def test_the_shipped_example_is_valid(testdata: Path) -> None:
    config = parse_config(
        EXAMPLE.read_text(encoding="utf-8"),
        source=str(EXAMPLE),
        env={"SYNC_PASSWORD": "example"},
        base_dir=testdata,
    )
    assert [n.name for n in config.nodes] == ["nas", "laptop", "office"]


NODE = 'name: a, url: "http://h:1", username: u, password: p'


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        (
            f'nodes: [{{{NODE}, max_concurrency: "²"}}]',
            ['nodes[0].max_concurrency: must be a whole number, not "²"'],
        ),
        (
            f'nodes: [{{{NODE}, timeout: "٣s"}}]',
            [f'nodes[0].timeout: "٣s" is not a duration: {DURATION_HINT}'],
        ),
        (
            f'nodes: [{{{NODE}, folders: {{"a\\nb": {{}}}}}}]',
            ['nodes[0].folders["a\\nb"]: set alias or exclude (or remove the entry)'],
        ),
        (
            'nodes: [{name: "a\\tb", url: "http://h:1", username: u, password: p}]',
            ["nodes[0].name: contains control characters"],
        ),
        ("nodes: " + "[" * 5000 + "]" * 5000, ["invalid YAML: nested too deeply"]),
        ("nodes: &n [*n]\n", ["nodes[0]: recursive YAML alias"]),
        (
            "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, n in zip("abcde", "bcdef", strict=True)
            ),
            ["the document expands to more than 100000 YAML nodes (aliases?)"],
        ),
    ],
    ids=["unicode-digits", "unicode-duration", "newline-key", "tab-in-name", "deep", "recursive",
         "alias-bomb"],
)  # fmt: skip
def test_hostile_or_odd_input_gives_errors_not_crashes(text: str, errors: list[str]) -> None:
    assert _errors(text) == errors


def test_an_environment_variable_that_is_not_utf8_is_refused_without_its_value() -> None:
    # Python hands undecodable environment bytes over as lone surrogates (surrogateescape).
    env = {"SYNC_PASSWORD": "env-secret-value\udcff"}
    errors = _errors(
        "nodes: [{name: nas, url: 'http://10.0.0.5:8888', username: api, "
        "password: '${SYNC_PASSWORD}'}]",
        env,
    )
    assert errors == [f"nodes[0].password: {SURROGATE}"]
    assert "env-secret-value" not in repr(errors)


def test_api_choice_per_node_and_in_defaults() -> None:
    config = _parse(
        "defaults: {username: api, password: pw, api: GUI}\n"
        "nodes:\n"
        "  - {name: a, url: 'http://h:1'}\n"
        "  - {name: b, url: 'http://h:2', api: v1}\n"
        "  - {name: c, url: 'http://h:3', api: ' auto '}\n"
    )
    assert [node.api for node in config.nodes] == ["gui", "v1", "auto"]
    plain = _parse("nodes:\n  - {name: a, url: 'http://h:1', username: u, password: p}\n")
    assert plain.nodes[0].api == "auto"


@pytest.mark.parametrize("value", ["v2", "'1'", "true", "[v1]", "''"])
def test_api_choice_refuses_anything_else(value: str) -> None:
    errors = _errors(
        f"nodes:\n  - {{name: a, url: 'http://h:1', username: u, password: p, api: {value}}}\n"
    )
    assert len(errors) == 1
    assert errors[0].startswith("nodes[0].api: must be one of auto, v1, gui, not ")
