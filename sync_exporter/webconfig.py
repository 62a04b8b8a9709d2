"""The ``--web.config.file``: TLS, basic auth and response headers, in exporter-toolkit's format.

Every official Prometheus exporter reads the same web configuration file (exporter-toolkit,
https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md), so a
file written for node_exporter means the same here, and a key this exporter cannot honour is
refused by name instead of being silently ignored. The file is validated like the exporter's
config (the same strict YAML reader and key-path messages), as a whole: one bad key refuses
the file, at startup and at every reload.

Where Python's ``ssl`` module cannot do what Go's ``crypto/tls`` does, the key is refused
with the reason: client certificates accepted without verification
(``RequestClientCert``, ``RequireAnyClientCert``), inline PEM (``cert``, ``key``,
``client_ca``) and ``curve_preferences``. docs/security.md lists the differences.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sync_exporter.config import (
    ConfigError,
    FrozenMapping,
    Validator,
    read_config_file,
)
from sync_exporter.document import INVALID, Schema, describe, key_path, read_document

#: exporter-toolkit's ``client_auth_type`` values that Python's ssl module can honour.
CLIENT_AUTH_TYPES: dict[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
#: Go accepts a client certificate without verifying it under these; OpenSSL as Python
#: drives it verifies every certificate it asks for, so they cannot mean the same here.
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")

TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

#: The suites Go's ``tls.CipherSuites()`` offers (the names exporter-toolkit accepts), with
#: their OpenSSL names (``openssl ciphers -stdname``). TLS 1.3 suites map to None: as in
#: Go, the list does not restrict TLS 1.3, whose suites are all safe.
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}

#: Response headers exporter-toolkit lets a web config set, with their allowed values
#: (empty: any value).
HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}

#: Paths served without basic auth unless ``auth_excluded_paths`` says otherwise: a
#: Kubernetes liveness probe carries no credentials.
DEFAULT_AUTH_EXCLUDED_PATHS: tuple[str, ...] = ("/-/healthy",)

#: A bcrypt hash: version, two-digit cost, 22 characters of salt and 31 of hash.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}", re.ASCII)

_ROOT_KEYS = Schema(
    optional=(
        "tls_server_config",
        "http_server_config",
        "basic_auth_users",
        "auth_excluded_paths",
        "rate_limit",
    )
)
_TLS_KEYS = Schema(
    optional=(
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "cert",
        "key",
        "client_ca",
        "curve_preferences",
        "client_allowed_sans",
    )
)
_HTTP_KEYS = Schema(optional=("headers", "http2"))
#: exporter-toolkit keys this exporter refuses, and why (a key it ignored would let a
#: user believe in a protection that is not there).
_UNSUPPORTED = {
    "rate_limit": "is not supported by sync-exporter: put a reverse proxy in front of it to "
    "limit request rates",
    "cert": "inline PEM is not supported: put the certificate in a file and use cert_file",
    "key": "inline PEM is not supported: put the private key in a file and use key_file",
    "client_ca": "inline PEM is not supported: put the CA certificates in a file and use "
    "client_ca_file",
    "curve_preferences": "is not supported: Python's ssl module cannot set a list of curves "
    "(OpenSSL's defaults apply)",
    "client_allowed_sans": "is not supported by sync-exporter: issue client certificates "
    "from a dedicated CA (client_ca_file) instead",
}


@dataclass(frozen=True, slots=True)
class TLSServerConfig:
    """``tls_server_config``: the exporter serves HTTPS with these settings."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A validated web config; the default (no file) is plain HTTP with no auth."""

    tls: TLSServerConfig | None = None
    #: user name -> bcrypt hash. Empty: no basic auth (exporter-toolkit's rule).
    basic_auth_users: FrozenMapping[str, bytes] = field(default_factory=FrozenMapping, repr=False)
    headers: FrozenMapping[str, str] = field(default_factory=FrozenMapping)
    auth_excluded_paths: frozenset[str] = frozenset(DEFAULT_AUTH_EXCLUDED_PATHS)
    #: Accepted for compatibility; aiohttp serves HTTP/1.1 only, so it changes nothing.
    http2: bool = True


# --------------------------------------------------------------------------- TLS contexts


def _apply_settings(context: ssl.SSLContext, tls: TLSServerConfig) -> None:
    """Set what OpenSSL copies into each new connection: versions, ciphers, client auth."""
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    context.verify_mode = CLIENT_AUTH_TYPES[tls.client_auth_type]
    names = [CIPHER_SUITES[s] for s in tls.cipher_suites]
    context.set_ciphers(":".join(n for n in names if n) or _default_ciphers())
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE


def _default_ciphers() -> str:
    """Python's default TLS 1.2 cipher list for a server, to undo an earlier restriction."""
    return ":".join(c["name"] for c in ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).get_ciphers())


def _no_key_password() -> str:
    """Refuse encrypted private keys instead of letting OpenSSL prompt on the terminal."""
    raise ValueError("encrypted private keys are not supported")


def build_server_context(tls: TLSServerConfig) -> ssl.SSLContext:
    """Return a server context for ``tls``; raises ssl.SSLError, OSError or ValueError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_key_password)
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=str(tls.client_ca_file))
    _apply_settings(context, tls)
    return context


class ServerTLS:
    """The listening socket's TLS context, kept in step with the web config across reloads.

    The socket's context is fixed when the server starts, so a reload cannot replace it.
    Instead, every handshake switches the connection to the newest context (from the SNI
    callback, which OpenSSL calls with or without SNI): the certificate, key and client CA
    store come from there. What OpenSSL copies from the socket's context when a connection
    is created (protocol versions, cipher list, client-auth mode) is updated on the
    socket's context itself.
    """

    def __init__(self, tls: TLSServerConfig) -> None:
        self.context = build_server_context(tls)
        self._current = self.context
        self.context.sni_callback = self._select

    def _select(self, connection: ssl.SSLObject, server_name: str | None, _: object) -> None:
        if connection.context is not self._current:
            connection.context = self._current

    def install(self, tls: TLSServerConfig, context: ssl.SSLContext) -> None:
        """Serve new connections with ``context`` (built from ``tls``); the old ones go on."""
        _apply_settings(self.context, tls)
        self._current = context


# --------------------------------------------------------------------------- validation


class _WebValidator:
    """Checks a web config document, key by key, with the exporter config's Validator."""

    def __init__(self, check: Validator) -> None:
        self.check = check

    def unsupported(self, block: dict[str, object], path: str) -> None:
        for key in block:
            if key in _UNSUPPORTED:
                self.check.error(key_path(path, key), _UNSUPPORTED[key])

    def string_list(self, value: object, path: str) -> list[tuple[str, str]]:
        """Return ``(item path, text)`` for each string of a YAML list."""
        if value is None or value is INVALID:
            return []
        if not isinstance(value, list):
            self.check.error(path, f"must be a list, not {describe(value)}")
            return []
        items = []
        for index, item in enumerate(value):
            text = self.check.string(item, key_path(path, index))
            if text is not None:
                items.append((key_path(path, index), text))
        return items

    def choice(self, value: object, path: str, allowed: tuple[str, ...]) -> str | None:
        text = self.check.string(value, path)
        if text is not None and text not in allowed:
            self.check.error(path, f'"{text[:40]}" is not one of {", ".join(allowed)}')
            return None
        return text

    def tls(self, value: object, path: str) -> TLSServerConfig | None:
        block = self.check.mapping(value, path, _TLS_KEYS)
        if not isinstance(value, dict):
            return None
        before = len(self.check.errors)
        self.unsupported(block, path)
        files: dict[str, Path | None] = {}
        for key in ("cert_file", "key_file", "client_ca_file"):
            if key in block:
                files[key] = self.check.readable_file(block[key], key_path(path, key))
            elif key != "client_ca_file":
                self.check.error(key_path(path, key), "missing (a PEM file)")
        auth = "NoClientCert"
        if "client_auth_type" in block:
            auth = self.client_auth(block["client_auth_type"], f"{path}.client_auth_type") or auth
        versions = {"min_version": "TLS12", "max_version": "TLS13"}
        for key in versions:
            if key in block:
                versions[key] = (
                    self.choice(block[key], key_path(path, key), tuple(TLS_VERSIONS))
                    or versions[key]
                )
        if TLS_VERSIONS[versions["min_version"]] > TLS_VERSIONS[versions["max_version"]]:
            self.check.error(path, "min_version is above max_version")
        suites = self.cipher_suites(block.get("cipher_suites"), f"{path}.cipher_suites")
        prefer = True
        if "prefer_server_cipher_suites" in block:
            prefer = (
                self.check.boolean(
                    block["prefer_server_cipher_suites"], f"{path}.prefer_server_cipher_suites"
                )
                is not False
            )
        ca = files.get("client_ca_file")
        if "client_ca_file" in block and auth == "NoClientCert":
            self.check.error(
                f"{path}.client_ca_file",
                "set, but client_auth_type is NoClientCert: set client_auth_type to "
                "RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
            )
        if auth != "NoClientCert" and "client_ca_file" not in block:
            self.check.error(
                f"{path}.client_ca_file",
                f"missing: client_auth_type {auth} verifies client certificates against it",
            )
        cert_file, key_file = files.get("cert_file"), files.get("key_file")
        if len(self.check.errors) > before or cert_file is None or key_file is None:
            return None
        tls = TLSServerConfig(
            cert_file=cert_file,
            key_file=key_file,
            client_auth_type=auth,
            client_ca_file=ca,
            min_version=versions["min_version"],
            max_version=versions["max_version"],
            cipher_suites=suites,
            prefer_server_cipher_suites=prefer,
        )
        self.buildable(tls, path)
        return tls

    def client_auth(self, value: object, path: str) -> str | None:
        text = self.check.string(value, path)
        if text in _UNVERIFIED_CLIENT_AUTH:
            self.check.error(
                path,
                f"{text} accepts client certificates without verifying them, which Python's "
                "ssl module cannot do: use RequireAndVerifyClientCert with client_ca_file",
            )
            return None
        if text is not None and text not in CLIENT_AUTH_TYPES:
            self.check.error(path, f'"{text[:40]}" is not one of {", ".join(CLIENT_AUTH_TYPES)}')
            return None
        return text

    def cipher_suites(self, value: object, path: str) -> tuple[str, ...]:
        suites = []
        for where, name in self.string_list(value, path):
            if name not in CIPHER_SUITES:
                self.check.error(
                    where,
                    f'"{name[:60]}" is not a cipher suite of Go\'s tls.CipherSuites() '
                    "(insecure suites are refused, as exporter-toolkit does)",
                )
            else:
                suites.append(name)
        return tuple(suites)

    def buildable(self, tls: TLSServerConfig, path: str) -> None:
        """Report what OpenSSL itself refuses: the key pair, the CA file, the cipher list."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_key_password)
        except (ssl.SSLError, OSError, ValueError):
            self.check.error(
                path,
                "cert_file and key_file must be a PEM certificate and its unencrypted private key",
            )
        if tls.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(tls.client_ca_file))
            except (ssl.SSLError, OSError, ValueError):
                self.check.error(
                    f"{path}.client_ca_file", f"{tls.client_ca_file} holds no PEM certificate"
                )
        names = [n for n in (CIPHER_SUITES[s] for s in tls.cipher_suites) if n]
        if names:
            try:
                context.set_ciphers(":".join(names))
            except ssl.SSLError:
                self.check.error(
                    f"{path}.cipher_suites", "none of these suites is available in this OpenSSL"
                )

    def users(self, value: object, path: str) -> dict[str, bytes]:
        if value is None or value is INVALID:
            return {}
        if not isinstance(value, dict):
            self.check.error(
                path, f"must be a mapping of user name to bcrypt hash, not {describe(value)}"
            )
            return {}
        users: dict[str, bytes] = {}
        for user, hashed in value.items():
            where = key_path(path, user)
            if not user or ":" in user:
                self.check.error(where, "a user name must be non-empty and hold no ':'")
                continue
            text = self.check.string(hashed, where, secret=True)
            if text is None:
                continue
            match = _BCRYPT_HASH.fullmatch(text.strip())
            if match is None or not 4 <= int(match.group(1)) <= 31:
                self.check.error(
                    where,
                    "is not a bcrypt hash ($2y$10$ and 53 more characters): make one with "
                    "sync-exporter hash-password",
                )
                continue
            users[user] = text.strip().encode("ascii")
        return users

    def http(self, value: object, path: str) -> tuple[dict[str, str], bool]:
        block = self.check.mapping(value, path, _HTTP_KEYS)
        http2 = True
        if "http2" in block:
            http2 = self.check.boolean(block["http2"], f"{path}.http2") is not False
        headers: dict[str, str] = {}
        raw = block.get("headers")
        if raw is None or raw is INVALID:
            return headers, http2
        if not isinstance(raw, dict):
            self.check.error(f"{path}.headers", f"must be a mapping, not {describe(raw)}")
            return headers, http2
        for name, header_value in raw.items():
            where = key_path(f"{path}.headers", name)
            if name not in HEADERS:
                self.check.error(
                    where, f"this header cannot be set (allowed: {', '.join(HEADERS)})"
                )
                continue
            if header_value is None or header_value == "":
                continue  # exporter-toolkit: unset if blank
            text = self.check.string(header_value, where)
            if text is None:
                continue
            if HEADERS[name] and text not in HEADERS[name]:
                self.check.error(where, f'"{text[:40]}" is not one of {", ".join(HEADERS[name])}')
                continue
            headers[name] = text
        return headers, http2

    def excluded_paths(self, value: object, path: str) -> frozenset[str]:
        paths = set()
        for where, text in self.string_list(value, path):
            if not text.startswith("/") or any(c in text for c in "?#"):
                self.check.error(where, "must be a path starting with / (no query)")
            else:
                paths.add(text)
        return frozenset(paths)


def parse_web_config(
    text: str, *, source: str, env: Mapping[str, str], base_dir: Path
) -> WebConfig:
    """Validate a web config document; raise ConfigError listing every problem.

    An empty document is valid and means plain HTTP with no auth, as in exporter-toolkit.
    """
    check = Validator(base_dir)
    web = _WebValidator(check)
    tree = read_document(text, check.errors, env)
    if tree is None and not check.errors:
        return WebConfig()
    root = check.mapping(tree, "", _ROOT_KEYS)
    web.unsupported(root, "")
    tls = (
        web.tls(root["tls_server_config"], "tls_server_config")
        if ("tls_server_config" in root and root["tls_server_config"] is not None)
        else None
    )
    headers, http2 = web.http(root.get("http_server_config"), "http_server_config")
    users = web.users(root.get("basic_auth_users"), "basic_auth_users")
    excluded = frozenset(DEFAULT_AUTH_EXCLUDED_PATHS)
    if "auth_excluded_paths" in root:
        excluded = web.excluded_paths(root["auth_excluded_paths"], "auth_excluded_paths")
    if check.errors:
        raise ConfigError(check.errors, source=source)
    return WebConfig(
        tls=tls,
        basic_auth_users=FrozenMapping(users),
        headers=FrozenMapping(headers),
        auth_excluded_paths=excluded,
        http2=http2,
    )


def load_web_config(path: Path) -> WebConfig:
    """Load and validate the web config file ``path``; raise ConfigError listing every problem.

    Relative file names in it are taken from the directory the file is in.
    """
    text = read_config_file(path)
    return parse_web_config(text, source=str(path), env=os.environ, base_dir=path.absolute().parent)


def prepare_reload(path: Path, serving_tls: bool) -> tuple[WebConfig, ssl.SSLContext | None]:
    """Load ``path`` for a reload: the config and its TLS context, or ConfigError.

    The listening socket is plain or TLS for the life of the process, so a reload that
    would add or remove ``tls_server_config`` is refused whole, with the way out.
    """
    web = load_web_config(path)
    if (web.tls is not None) != serving_tls:
        change = "added" if serving_tls is False else "removed"
        raise ConfigError(
            [
                f"tls_server_config cannot be {change} by a reload (the listening socket "
                "stays HTTP or HTTPS for the life of the process): restart the exporter"
            ],
            source=str(path),
        )
    if web.tls is None:
        return web, None
    try:
        return web, build_server_context(web.tls)
    except (ssl.SSLError, OSError, ValueError):
        raise ConfigError(
            [
                "tls_server_config: the certificate or key file changed while being read; "
                "reload again"
            ],
            source=str(path),
        ) from None
