"""``--web.config.file``: strict validation, basic auth, headers and reload, over plain HTTP.

TLS (certificates the tests generate, client certificates, a real Prometheus) is in
test_webconfig_tls.py; this module covers what does not need a handshake.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sync_exporter.cli import main as cli_main
from sync_exporter.config import ConfigError, load_config
from sync_exporter.exporter_cli import main as exporter_main
from sync_exporter.hash_password import main as hash_password
from sync_exporter.server import Settings, create_app
from sync_exporter.simulator.fleet import Fleet
from sync_exporter.webauth import BasicAuth, parse_basic_auth
from sync_exporter.webconfig import WebConfig, load_web_config, parse_web_config
from tests.server.conftest import Exposition, Harness, fleet_config, write_config
from tests.server.tlsfiles import Pki, make_pki
from tests.server.webusers import (
    ALICE,
    ALICE_HASH,
    ALICE_PASSWORD,
    BOB_HASH,
    BOB_PASSWORD,
    USERS,
    basic,
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with server and client certificates, and an unrelated second CA."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def parse(text: str, base_dir: Path | None = None) -> WebConfig:
    return parse_web_config(
        text, source="web.yml", env={"CERTS": "certs"}, base_dir=base_dir or Path("/nonexistent")
    )


def errors_of(text: str, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, base_dir)
    return caught.value.errors


# --------------------------------------------------------------------------- validation


def test_an_empty_file_means_plain_http_without_auth() -> None:
    config = parse("")
    assert config == WebConfig()
    assert config.tls is None
    assert not config.basic_auth_users
    assert config.auth_excluded_paths == {"/-/healthy"}


def test_a_full_tls_config_is_read_with_exporter_toolkit_names(pki: Pki) -> None:
    config = parse(
        f"""
tls_server_config:
  cert_file: {pki.server.cert.name}
  key_file: {pki.server.key.name}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {pki.ca.name}
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
{USERS}
auth_excluded_paths: [/-/healthy, /-/ready]
""",
        base_dir=pki.ca.parent,
    )
    assert config.tls is not None
    assert config.tls.cert_file == pki.server.cert  # relative to the file's directory
    assert config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert config.tls.client_ca_file == pki.ca
    assert config.tls.cipher_suites == (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
    )
    assert config.tls.prefer_server_cipher_suites is False
    assert dict(config.headers) == {
        "X-Frame-Options": "deny",
        "X-Content-Type-Options": "nosniff",
        "Strict-Transport-Security": "max-age=31536000",
    }
    assert dict(config.basic_auth_users) == {"alice": ALICE_HASH.encode()}
    assert config.auth_excluded_paths == {"/-/healthy", "/-/ready"}
    assert ALICE_HASH not in repr(config), "hashes stay out of reprs (and so out of logs)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tls_server_confg: {}\n",
            "tls_server_confg: unknown key (did you mean tls_server_config?)",
        ),
        ("basic_auth_user: {}\n", "did you mean basic_auth_users?"),
        ("http_server_config: {header: {}}\n", "http_server_config.header: unknown key"),
        (
            "http_server_config: {headers: {X-Powered-By: me}}\n",
            'http_server_config.headers["X-Powered-By"]: this header cannot be set',
        ),
        (
            "http_server_config: {headers: {X-Frame-Options: allow}}\n",
            '"allow" is not one of deny, sameorigin',
        ),
        (
            "http_server_config: {headers: {X-Content-Type-Options: sniff}}\n",
            '"sniff" is not one of nosniff',
        ),
        ("http_server_config: {http2: maybe}\n", "http_server_config.http2: must be true or false"),
        ("rate_limit: {interval: 1s, burst: 20}\n", "rate_limit: is not supported"),
        ("basic_auth_users: [alice]\n", "basic_auth_users: must be a mapping"),
        ('basic_auth_users: {"a:b": x}\n', "a user name must be non-empty and hold no ':'"),
        ("auth_excluded_paths: [metrics]\n", "auth_excluded_paths[0]: must be a path"),
        ("auth_excluded_paths: /metrics\n", "auth_excluded_paths: must be a list"),
        ("- a\n", "top level: must be a mapping"),
        ("tls_server_config: [a]\n", "tls_server_config: must be a mapping"),
        ("tls_server_config: {}\n", "tls_server_config.cert_file: missing"),
        (
            "tls_server_config: !!binary aGk=\n",
            "tls_server_config: YAML tags like !!binary are not",
        ),
        ("tls_server_config: !custom x\n", "tls_server_config: unsupported YAML tag !custom"),
    ],
)
def test_problems_are_named_by_key_path(text: str, expected: str) -> None:
    errors = errors_of(text)
    assert any(expected in e for e in errors), errors


def _tls(pki: Pki, extra: str) -> str:
    return (
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {pki.server.key}\n"
        + "".join(f"  {line}\n" for line in extra.splitlines())
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("client_auth_type: Sometimes", '"Sometimes" is not one of NoClientCert, '),
        ("client_auth_type: RequireAnyClientCert", "without verifying them, which Python's ssl"),
        ("client_auth_type: RequestClientCert", "use RequireAndVerifyClientCert"),
        ("client_auth_type: RequireAndVerifyClientCert", "client_ca_file: missing"),
        ("client_auth_type: VerifyClientCertIfGiven", "client_ca_file: missing"),
        ("client_ca_file: CA", "client_ca_file: set, but client_auth_type is NoClientCert"),
        ("min_version: TLS14", '.min_version: "TLS14" is not one of TLS10, TLS11, TLS12, TLS13'),
        ("min_version: tls12", "is not one of"),
        ("min_version: TLS13\nmax_version: TLS12", "min_version is above max_version"),
        ("cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]", "insecure suites are refused"),
        ("cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256]", "not a cipher suite of Go's"),
        ("cipher_suites: TLS_AES_128_GCM_SHA256", "cipher_suites: must be a list"),
        ("curve_preferences: [X25519]", "curve_preferences: is not supported"),
        ("cert: PEM", "tls_server_config.cert: inline PEM is not supported"),
        ("key: PEM", "tls_server_config.key: inline PEM is not supported"),
        ("client_ca: PEM", "inline PEM is not supported"),
        ("client_allowed_sans: [a]", "client_allowed_sans: is not supported"),
        ("prefer_server_cipher_suites: 2", "must be true or false"),
        ("ciphers: []", "tls_server_config.ciphers: unknown key (did you mean cipher_suites?)"),
    ],
)
def test_tls_settings_follow_exporter_toolkit_or_say_why_not(
    pki: Pki, extra: str, expected: str
) -> None:
    text = _tls(pki, extra.replace("CA", str(pki.ca)))
    errors = errors_of(text)
    assert any(expected in e for e in errors), errors


def test_files_that_are_not_a_matching_pem_pair_are_refused(pki: Pki, tmp_path: Path) -> None:
    mismatch = (
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {pki.other_server.key}\n"
    )
    assert errors_of(mismatch) == [
        "tls_server_config: cert_file and key_file must be a PEM certificate and its "
        "unencrypted private key"
    ]
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    junk_ca = _tls(pki, "client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: junk.pem")
    assert errors_of(junk_ca, tmp_path) == [
        f"tls_server_config.client_ca_file: {tmp_path / 'junk.pem'} holds no PEM certificate"
    ]
    missing = "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n"
    errors = errors_of(missing, tmp_path)
    assert [e.split(":")[0] for e in errors] == [
        "tls_server_config.cert_file",
        "tls_server_config.key_file",
    ]
    assert "No such file or directory" in errors[0]


@pytest.mark.parametrize(
    "value",
    [
        "my-plain-password",
        "$2y$10$tooshort",
        "$1$saltsalt$aaaaaaaaaaaaaaaaaaaaaa",
        "$2y$03$" + "a" * 53,  # cost below bcrypt's minimum
        "$2y$32$" + "a" * 53,
    ],
)
def test_a_password_that_is_not_a_bcrypt_hash_is_refused_without_being_shown(value: str) -> None:
    errors = errors_of(f"basic_auth_users:\n  alice: '{value}'\n")
    assert errors == [
        "basic_auth_users.alice: is not a bcrypt hash ($2y$10$ and 53 more characters): "
        "make one with sync-exporter hash-password"
    ]


def test_every_problem_is_reported_at_once(pki: Pki) -> None:
    text = (
        "tls_server_config:\n"
        f"  cert_file: {pki.server.cert}\n"
        f"  key_file: {pki.server.key}\n"
        "  min_version: SSL3\n"
        "  client_auth_type: RequireAnyClientCert\n"
        "basic_auth_users:\n  alice: plain\n"
        "http_server_config: {headers: {X-Frame-Options: maybe}}\n"
        "rate_limit: {}\n"
    )
    errors = errors_of(text)
    assert len(errors) == 5, errors
    assert all(e.split(":")[0] for e in errors)
    assert not [e for e in errors if "plain" in e.split(":", 1)[1] and "alice" in e]


def test_bcrypt_hashes_of_every_variant_are_accepted() -> None:
    for prefix in ("$2y$", "$2a$", "$2b$"):
        config = parse(f"basic_auth_users:\n  alice: '{ALICE_HASH.replace('$2b$', prefix)}'\n")
        assert config.basic_auth_users["alice"].startswith(prefix.encode())


def test_load_web_config_reports_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_web_config(tmp_path / "missing.yml")
    assert str(caught.value).startswith(f"{tmp_path / 'missing.yml'}: cannot read the file")


# --------------------------------------------------------------------------- basic auth


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "Basic " + base64.b64encode(b"alice:pw:with:colons").decode(),
            ("alice", b"pw:with:colons"),
        ),
        ("basic " + base64.b64encode(b"alice:").decode(), ("alice", b"")),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
        ("Basic !!!", None),
        ("Bearer abc", None),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), None),
        (None, None),
    ],
)
def test_parse_basic_auth(header: str | None, expected: tuple[str, bytes] | None) -> None:
    assert parse_basic_auth(header) == expected


async def test_the_cache_saves_bcrypt_and_an_unknown_user_costs_one_too() -> None:
    auth = BasicAuth()
    users = {"alice": ALICE_HASH.encode()}
    right = ALICE["Authorization"]
    assert await auth.check(users, right)
    assert await auth.check(users, right)
    assert auth.bcrypt_checks == 1, "the second check of the same credentials is cached"
    wrong = basic("alice", "guess")["Authorization"]
    assert not await auth.check(users, wrong)
    assert not await auth.check(users, wrong)
    assert auth.bcrypt_checks == 2, "a repeated wrong password costs one bcrypt, not one each"
    unknown = basic("mallory", ALICE_PASSWORD)["Authorization"]
    assert not await auth.check(users, unknown)
    assert auth.bcrypt_checks == 3, "an unknown user pays a bcrypt like a known one"
    # A new hash for alice (a reload) is never answered from the old entry.
    assert not await auth.check({"alice": BOB_HASH.encode()}, right)
    assert auth.bcrypt_checks == 4


async def test_the_cache_is_bounded_and_holds_no_password() -> None:
    auth = BasicAuth(cache_size=3)
    users = {"alice": ALICE_HASH.encode()}
    for attempt in range(5):
        await auth.check(users, basic("alice", f"guess{attempt}")["Authorization"])
    assert len(auth._cache) == 3
    assert not [k for k in auth._cache if b"guess" in k]


async def test_a_password_longer_than_bcrypt_reads_is_refused_not_truncated() -> None:
    long_password = "x" * 72
    hashed = bcrypt.hashpw(long_password.encode(), bcrypt.gensalt(4))
    auth = BasicAuth()
    assert await auth.check({"u": hashed}, basic("u", long_password)["Authorization"])
    assert not await auth.check({"u": hashed}, basic("u", long_password + "y")["Authorization"])


# --------------------------------------------------------------------------- over HTTP

WebHarness = Callable[[str], Awaitable[Harness]]


@pytest.fixture
def web_harness(aiohttp_client: Any, fleet: Fleet, config_file: Path, tmp_path: Path) -> WebHarness:
    """Start the exporter with a web config file holding the given text."""

    async def start(text: str) -> Harness:
        web_file = tmp_path / "web.yml"
        web_file.write_text(text, encoding="utf-8")
        settings = Settings(
            config=await asyncio.to_thread(load_config, config_file),
            config_file=config_file,
            web_config_file=web_file,
            web_config=await asyncio.to_thread(load_web_config, web_file),
        )
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            create_app(settings)
        )
        return Harness(client=client, fleet=fleet, config_file=config_file)

    return start


PROTECTED = [
    ("GET", "/metrics"),
    ("GET", "/probe?target=nas"),
    ("GET", "/probe?target=nas&debug=true"),
    ("GET", "/sd"),
    ("GET", "/"),
    ("GET", "/runbook"),
    ("GET", "/-/ready"),
    ("POST", "/-/reload"),
    ("GET", "/no-such-page"),
]


async def _status(harness: Harness, method: str, path: str, headers: dict[str, str]) -> int:
    async with harness.client.request(method, path, headers=headers) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_every_endpoint_needs_the_password(
    web_harness: WebHarness, method: str, path: str
) -> None:
    harness = await web_harness(USERS)
    for headers in (
        {},
        basic("alice", "wrong"),
        basic("mallory", ALICE_PASSWORD),
        basic("alice", ALICE_PASSWORD + " "),
        {"Authorization": "Bearer " + ALICE_PASSWORD},
    ):
        async with harness.client.request(method, path, headers=headers) as response:
            assert response.status == 401, (headers, await response.text())
            assert response.headers["WWW-Authenticate"].startswith('Basic realm="sync-exporter"')
            assert await response.text() == "Unauthorized\n"
    assert harness.exporter.scraper.last() == {}, "no node is asked for an unauthorised client"
    expected = 404 if path == "/no-such-page" else 200
    assert await _status(harness, method, path, ALICE) == expected


async def test_healthy_stays_open_for_liveness_probes_unless_configured(
    web_harness: WebHarness,
) -> None:
    harness = await web_harness(USERS)
    assert await _status(harness, "GET", "/-/healthy", {}) == 200
    locked = await web_harness(USERS + "auth_excluded_paths: []\n")
    assert await _status(locked, "GET", "/-/healthy", {}) == 401
    assert await _status(locked, "GET", "/-/healthy", ALICE) == 200


async def test_without_users_nothing_asks_for_a_password(web_harness: WebHarness) -> None:
    harness = await web_harness("http_server_config: {headers: {X-Frame-Options: deny}}\n")
    assert await _status(harness, "GET", "/metrics", {}) == 200


async def test_configured_headers_are_on_every_answer(web_harness: WebHarness) -> None:
    harness = await web_harness(
        USERS + "http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n"
        "    Content-Security-Policy: default-src 'self'\n"
    )
    for method, path, headers, status in [
        ("GET", "/metrics", ALICE, 200),
        ("GET", "/metrics", {}, 401),
        ("GET", "/nope", ALICE, 404),
        ("GET", "/probe?target=nope", ALICE, 400),
        ("GET", "/-/healthy", {}, 200),
    ]:
        async with harness.client.request(method, path, headers=headers) as response:
            assert response.status == status
            assert response.headers["X-Frame-Options"] == "sameorigin"
            assert response.headers["Content-Security-Policy"] == "default-src 'self'"


async def test_a_scrape_pays_bcrypt_once(web_harness: WebHarness) -> None:
    harness = await web_harness(USERS)
    for _ in range(5):
        await harness.metrics(headers=ALICE)
    assert harness.exporter.auth.bcrypt_checks == 1


async def test_reload_swaps_users_and_refuses_a_bad_web_config_whole(
    web_harness: WebHarness, tmp_path: Path
) -> None:
    harness = await web_harness(USERS)
    web_file = tmp_path / "web.yml"
    bob = basic("bob", BOB_PASSWORD)

    web_file.write_text(f"basic_auth_users:\n  bob: {BOB_HASH}\n", encoding="utf-8")
    async with harness.client.post("/-/reload", headers=ALICE) as response:
        assert response.status == 200, await response.text()
    assert await _status(harness, "GET", "/metrics", ALICE) == 401
    assert await _status(harness, "GET", "/metrics", bob) == 200

    # A bad web config, with a good exporter config that drops a node: neither is taken.
    names = list(harness.fleet.nodes)
    write_config(harness.config_file, fleet_config(harness.fleet, names[:1]))
    web_file.write_text(
        f"basic_auth_users:\n  bob: {BOB_HASH}\n  eve: plaintext-secret\n", encoding="utf-8"
    )
    async with harness.client.post("/-/reload", headers=bob) as response:
        text = await response.text()
        assert response.status == 500
    assert text == (
        "failed to reload the configuration: "
        f"{web_file}: basic_auth_users.eve: is not a bcrypt hash ($2y$10$ and 53 more "
        "characters): make one with sync-exporter hash-password\n"
    )
    assert "plaintext-secret" not in text
    assert await _status(harness, "GET", "/metrics", bob) == 200, "the old web config stays"
    expo = Exposition(await harness.get_text("/metrics", headers=bob))
    assert expo.label_values("btsync_up", "node") == set(names), "the old config stays too"
    assert expo.value("btsync_exporter_config_last_reload_successful") == 0
    page = await harness.get_text("/", headers=bob)
    assert "last reload FAILED" in page
    assert "plaintext-secret" not in page

    # Both files broken: both reported.
    harness.config_file.write_text("nodes: 42\n", encoding="utf-8")
    error = await harness.exporter.reload()
    assert error is not None
    assert error.splitlines()[0].startswith(f"{harness.config_file}: nodes: ")
    assert error.splitlines()[1].startswith(f"{web_file}: basic_auth_users.eve: ")


async def test_reload_cannot_add_tls_to_a_plain_http_server(
    web_harness: WebHarness, tmp_path: Path, pki: Pki
) -> None:
    harness = await web_harness(USERS)
    (tmp_path / "web.yml").write_text(_tls(pki, ""), encoding="utf-8")
    error = await harness.exporter.reload()
    assert error == (
        f"{tmp_path / 'web.yml'}: tls_server_config cannot be added by a reload (the "
        "listening socket stays HTTP or HTTPS for the life of the process): restart the exporter"
    )
    assert await _status(harness, "GET", "/metrics", ALICE) == 200


# --------------------------------------------------------------------------- CLI


def test_hash_password_reads_stdin_and_prints_a_bcrypt_hash() -> None:
    out = io.StringIO()
    assert hash_password(["--cost", "4"], stdin=io.StringIO("s3cret pass\n"), out=out) == 0
    hashed = out.getvalue().strip()
    assert hashed.startswith("$2b$04$")
    assert bcrypt.checkpw(b"s3cret pass", hashed.encode())
    assert parse(f"basic_auth_users:\n  alice: '{hashed}'\n").basic_auth_users


@pytest.mark.parametrize("stdin", ["\n", "", "x" * 73 + "\n"])
def test_hash_password_refuses_empty_and_too_long_passwords(
    stdin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hash_password([], stdin=io.StringIO(stdin), out=io.StringIO()) == 2
    assert "sync-exporter hash-password: the password is" in capsys.readouterr().err


def test_hash_password_takes_no_password_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["hash-password", "s3cret"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_config_check_validates_the_web_config_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path / "c.yml",
        {"nodes": [{"name": "a", "url": "http://127.0.0.1:1", "username": "u", "password": "p"}]},
    )
    web_file = tmp_path / "web.yml"
    web_file.write_text(USERS, encoding="utf-8")
    argv = ["--config.check", "--config.file", str(config), "--web.config.file", str(web_file)]
    assert exporter_main(argv) == 0
    assert (
        f"SUCCESS: {web_file} is a valid web config: plain HTTP, basic auth for 1 user"
        in capsys.readouterr().out
    )
    web_file.write_text("basic_auth_users: {alice: nope}\nrate_limit: {}\n", encoding="utf-8")
    assert exporter_main(argv) == 2
    out = capsys.readouterr().out
    assert f"FAILED: {web_file} has 2 errors:" in out
    assert "nope" not in out


def test_an_invalid_web_config_stops_startup_with_exit_2(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.yml",
        {"nodes": [{"name": "a", "url": "http://127.0.0.1:1", "username": "u", "password": "p"}]},
    )
    web_file = tmp_path / "web.yml"
    web_file.write_text("tls_server_config: {cert_file: nope}\n", encoding="utf-8")
    argv = ["--config.file", str(config), "--web.config.file", str(web_file)]
    assert exporter_main([*argv, "--web.listen-address", "127.0.0.1:0"]) == 2


def test_the_documented_web_config_is_valid(pki: Pki, tmp_path: Path) -> None:
    """docs/security.md's example, with its paths pointed at generated files."""
    docs = Path(__file__).parents[2] / "docs" / "security.md"
    blocks = re.findall(r"^```yaml\n(.*?)^```", docs.read_text(encoding="utf-8"), re.S | re.M)
    (example,) = [b for b in blocks if "tls_server_config:" in b]
    for documented, real in [
        ("/etc/sync-exporter/tls.crt", pki.server.cert),
        ("/etc/sync-exporter/tls.key", pki.server.key),
        ("/etc/sync-exporter/clients-ca.pem", pki.ca),
    ]:
        assert documented in example
        example = example.replace(documented, str(real))
    config = parse(example)
    assert config.tls is not None
    assert config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert bcrypt.checkpw(b"change-me", config.basic_auth_users["prometheus"])
