"""The BitTorrent Sync API v1 client: one per node, over that node's own connections.

Errors are :mod:`sync_exporter.errors`' tree. Lower-level exceptions
(timeouts, decoding) are translated in exactly one place (:class:`_Translated`) and
chained with ``from``; the transport (:mod:`sync_exporter.node_http`) raises SyncErrors
itself. Every message is built from fixed text and numbers, never from ``str()`` of a
library exception, so ``str(err)`` is always safe to log.

Bodies are read whatever their Content-Type (real nodes say ``text/javascript``) and
decoded as UTF-8, never Latin-1 (docs/sync-api.md, "API v1 quirks").
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, quote_plus

from sync_exporter.config import (
    DEFAULT_MAX_RESPONSE_ITEMS,
    NodeConfig,
)
from sync_exporter.credentials import SecretUnavailableError
from sync_exporter.errors import (
    SyncAPIError,
    SyncAuthError,
    SyncError,
    SyncProtocolError,
    SyncTransportError,
    clip,
    status_error,
)
from sync_exporter.model import (
    FolderEntry,
    Outcome,
    PeerSnapshot,
    ShapeError,
    SharedSecrets,
    Speed,
    parse_api_error,
    parse_folder_prefs,
    parse_folders,
    parse_os,
    parse_peers,
    parse_secrets,
    parse_speed,
    parse_version,
)
from sync_exporter.node_http import Answer, NodeHTTP

_log = logging.getLogger(__name__)

T = TypeVar("T")


class RequestObserver(Protocol):
    """Told about every API request: self-metrics implement this."""

    def observe(self, node: str, method: str, outcome: Outcome, seconds: float) -> None:
        """Record one request to ``node`` for API ``method``, how it ended and how long it took."""
        ...


def _translate(exc: BaseException, timeout: float) -> SyncError:
    """Map one lower-level exception to the most specific SyncError (messages built here)."""
    if isinstance(exc, TimeoutError):
        return SyncTransportError(f"timed out after {timeout:g}s", outcome=Outcome.TIMEOUT)
    if isinstance(exc, OSError):
        return SyncTransportError("connection error")
    if isinstance(exc, UnicodeDecodeError):
        return SyncProtocolError("response body is not UTF-8")
    if isinstance(exc, json.JSONDecodeError):
        return SyncProtocolError("response body is not JSON")
    if isinstance(exc, ShapeError):
        return SyncProtocolError(f"unexpected response shape: {exc}")
    if isinstance(exc, RecursionError):
        return SyncProtocolError("response body is nested too deeply")
    return SyncProtocolError(f"unreadable response ({type(exc).__name__})")


#: What :class:`_Translated` turns into SyncErrors (a SyncError passes as it is).
_TRANSLATED = (TimeoutError, OSError, ValueError, RecursionError)


class _Translated:
    """The one boundary where library exceptions become SyncErrors.

    A class rather than a ``@contextmanager`` generator: it wraps every API request, and
    a plain ``__exit__`` costs a fraction of a generator's setup and teardown.
    """

    __slots__ = ("_timeout",)

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or isinstance(exc, SyncError) or not isinstance(exc, _TRANSLATED):
            return
        raise _translate(exc, self._timeout) from exc


#: ``Authorization: Basic dXNlcjpwdw==`` and the like, whatever the scheme, in echoed text.
_AUTHORIZATION_TEXT = re.compile(
    r"(?i)\b((?:proxy-)?authori[sz]ation)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:basic|bearer|digest|negotiate|token)\s+)?[^\s,;\"']+"
)
#: A bare ``Basic <token>`` / ``Bearer <token>`` without the header name.
_SCHEME_TOKEN = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{6,}")
#: ``password=...``, ``token: ...``, ``cookie=...`` as a server might print its input.
_CREDENTIAL_FIELD = re.compile(
    r"(?i)\b(password|passwd|pwd|token|api[_-]?key|secret|cookie)\b([\"']?\s*[=:]\s*[\"']?)"
    r"[^\s,;&\"']+"
)


def _redacted(message: str, params: dict[str, str], secrets: Iterable[str] = ()) -> str:
    """Remove what a node may echo of the request from ``message``, then cut it short.

    Exact values go first: request parameters (folder secrets, 8+ characters) and the
    caller's ``secrets`` (password, basic-auth token, GUI token or cookie; 4+ characters,
    also as they look percent-encoded). Then anything shaped like credentials:
    ``Authorization: ...``, ``Basic <token>``, ``password=...``, ``token: ...``.
    """
    values = [v for v in params.values() if len(v) >= 8]
    for secret in secrets:
        if len(secret) >= 4:
            values += [secret, quote(secret, safe=""), quote_plus(secret, safe="")]
    for value in sorted(set(values), key=len, reverse=True):
        message = message.replace(value, "<secret>")
    message = _AUTHORIZATION_TEXT.sub(lambda m: f"{m.group(1)}: <secret>", message)
    message = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} <secret>", message)
    message = _CREDENTIAL_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}<secret>", message)
    return clip(message, 200)


#: A JSON escape of a UTF-16 surrogate (``\ud800``): the only way a lone surrogate, which
#: cannot be encoded as UTF-8, gets into a decoded string. Paired ones match too (harmless).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrubbed(value: Any) -> Any:
    """Replace lone surrogates in every string of a JSON value with U+FFFD.

    ``json.loads`` turns an unpaired ``\\udXXX`` escape into a lone surrogate; such a
    string in a label makes the whole exposition (every node's) fail to encode.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    return value


def json_items(body: bytes) -> int:
    """An upper bound on the JSON values ``body`` decodes into (each costs memory and time).

    Every value is the top one, or an element of an array or object, and a container
    of n elements holds n - 1 commas: so values <= 1 + commas + containers (object keys
    counted alike). Commas and brackets inside strings only make it larger, never smaller.
    Counting bytes runs at memory speed, long before ``json.loads`` would build the values.
    """
    return 1 + body.count(b",") + body.count(b"{") + body.count(b"[")


def _decode(
    body: bytes,
    params: dict[str, str],
    *,
    secrets: Iterable[str] = (),
    max_items: int = DEFAULT_MAX_RESPONSE_ITEMS,
) -> Any:
    """Bytes -> JSON value, raising for bodies that are empty, not UTF-8 or API errors.

    A body that could decode into more than ``max_items`` values is refused before
    decoding: ``json.loads`` holds the interpreter for the whole decode (a thread would not
    free the event loop), so the count is what bounds its time and memory.
    """
    if not body or body.isspace():  # as ``not body.strip()``, without copying the body
        raise SyncProtocolError("empty response body")
    # json_items(body) <= 1 + len(body): a body shorter than the limit needs no count.
    if len(body) >= max_items and json_items(body) > max_items:
        raise SyncProtocolError(
            f"response has more than {max_items} JSON values (see max_response_items)"
        )
    raw = json.loads(body.decode("utf-8-sig"))
    if b"\\u" in body and _SURROGATE_ESCAPE.search(body):  # rare: skip the walk
        raw = _scrubbed(raw)
    error = parse_api_error(raw)
    if error is not None:
        raise SyncAPIError(error.code, _redacted(error.message, params, secrets))
    return raw


def _basic_auth(login: str, password: str) -> str:
    """The Authorization header value; UTF-8 credentials as RFC 7617 recommends."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def credential_texts(authorization: str) -> tuple[str, ...]:
    """What a node could echo of a basic-auth header: the token, ``login:password``, the
    password (for :func:`_redacted`)."""
    token = authorization.split()[-1]
    try:
        pair = base64.b64decode(token, validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return (token,)
    return (token, pair, pair.partition(":")[2])


def _identity(raw: object) -> Any:
    return raw


class SyncClient:
    """API v1 client for one node: ``GET {url}/api?method=...`` with basic auth.

    The password is read at request time (``node.password.reveal()``), so a rotated
    password file takes effect without a reload. Each request is reported to the
    observer once, with its outcome and duration.
    """

    def __init__(
        self,
        node: NodeConfig,
        http: NodeHTTP,
        observer: RequestObserver | None = None,
    ) -> None:
        self._node = node
        self._http = http
        self._observer = observer
        self._budget = ResponseBudget(node.max_response_bytes)
        #: (password, its Authorization header, what a node could echo of it), built
        #: again only when the password read at request time differs.
        self._auth: tuple[str, str, tuple[str, ...]] | None = None

    @property
    def node(self) -> NodeConfig:
        """The node this client talks to."""
        return self._node

    async def call(self, method: str, **params: str) -> Any:
        """Call API ``method`` and return the decoded JSON; raise a SyncError on failure."""
        return await self._request(method, params, _identity)

    async def get_speed(self) -> Speed:
        """Current download and upload speed of the node, bytes per second."""
        return await self._request("get_speed", {}, parse_speed)

    async def get_folders(self) -> tuple[FolderEntry, ...]:
        """Every folder of the node (malformed entries skipped and reported to the observer)."""
        return (await self._request("get_folders", {}, parse_folders)).items

    async def get_folder_peers(self, secret: str) -> tuple[PeerSnapshot, ...]:
        """The peers of the folder held under ``secret`` (``()`` for an unknown secret)."""
        return (await self._request("get_folder_peers", {"secret": secret}, parse_peers)).items

    async def get_secrets(self, secret: str) -> SharedSecrets:
        """The secrets that can be shared under ``secret`` (read-only, encryption...)."""
        return await self._request("get_secrets", {"secret": secret}, parse_secrets)

    async def get_folder_selective(self, secret: str) -> bool | None:
        """Whether the folder held under ``secret`` uses selective sync (None: not said)."""
        return await self._request("get_folder_prefs", {"secret": secret}, parse_folder_prefs)

    async def get_version(self) -> str:
        """The node's Sync version, as a dotted string."""
        return await self._request("get_version", {}, parse_version)

    async def get_os(self) -> str:
        """The node's OS name (``linux``, ``win32``, ``mac``...)."""
        return await self._request("get_os", {}, parse_os)

    def _password(self) -> str:
        """Read the password now, so a rotated password file is picked up at once."""
        try:
            return self._node.password.reveal()
        except SecretUnavailableError as exc:
            raise SyncAuthError(f"cannot read the password: {exc}") from exc

    def _authorization(self) -> tuple[str, tuple[str, ...]]:
        """The Authorization header for the password in force, and its echoable texts."""
        password = self._password()
        auth = self._auth
        if auth is None or auth[0] != password:
            header = _basic_auth(self._node.username, password)
            auth = self._auth = (password, header, credential_texts(header))
        return auth[1], auth[2]

    def _request(
        self, method: str, params: dict[str, str], parse: Callable[[object], T]
    ) -> Awaitable[T]:
        """Send one request, decode and parse it, and report it to the observer once.

        A plain function handing back the observed coroutine: one coroutine less for
        every resumption of every request to pass through.
        """
        return observed_request(
            self._observer,
            self._node.name,
            method,
            lambda: self._exchange(method, params, parse),
        )

    async def _exchange(
        self, method: str, params: dict[str, str], parse: Callable[[object], T]
    ) -> T:
        authorization, secrets = self._authorization()
        with self._budget.lease() as lease, _Translated(self._node.timeout):
            answer = await self._http.get(
                "/api", {"method": method, **params}, (("Authorization", authorization),), lease
            )
            if answer.status != 200:
                raise status_error(answer.status)
            body = await body_of(answer, lease)
            value = _decode(body, params, secrets=secrets, max_items=self._node.max_response_items)
            del body, answer  # the decoded value is all that is needed from here on
            return parse(value)


async def observed_request(
    observer: RequestObserver | None, node: str, method: str, call: Callable[[], Awaitable[T]]
) -> T:
    """Run one logical request and report it once, with its outcome and duration.

    Shared by both API clients, so they count alike: a SyncError by its outcome, a
    cancellation (the scrape's deadline) as a timeout, any other exception (a parse bug)
    as invalid_response, and a result that skipped malformed entries (``.skipped``) as
    invalid_response too.
    """
    started = time.perf_counter()
    outcome = Outcome.TIMEOUT  # what a cancellation by the scrape deadline means
    try:
        result = await call()
    except SyncError as err:
        outcome = err.outcome
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        outcome = Outcome.INVALID_RESPONSE  # a parse bug, not a timeout
        raise
    else:
        skipped = getattr(result, "skipped", 0)
        outcome = Outcome.INVALID_RESPONSE if skipped else Outcome.SUCCESS
        return result
    finally:
        report_request(observer, node, method, outcome, time.perf_counter() - started)


def report_request(
    observer: RequestObserver | None, node: str, method: str, outcome: Outcome, seconds: float
) -> None:
    """Log one finished request at debug level and tell the observer (both API clients)."""
    if _log.isEnabledFor(logging.DEBUG):  # skip building the fields on every request
        _log.debug(
            "api request",
            extra={
                "node": node,
                "method": method,
                "outcome": outcome.value,
                "seconds": round(seconds, 6),
            },
        )
    if observer is not None:
        observer.observe(node, method, outcome, seconds)


class ResponseBudget:
    """How many bytes of answers one node may have the exporter hold at once.

    Shared by all of the node's requests in flight, so ``max_concurrency`` parallel
    answers cannot multiply the bound: the bytes read (and inflated) so far by every
    request count, and the request whose next chunk would pass the limit fails. Mutable
    by nature; one per client, used from its event loop only.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def lease(self) -> Lease:
        """A share of the budget for one request (``with``), given back when the block ends."""
        return Lease(self)


class Lease:
    """One request's share of a :class:`ResponseBudget`; a context manager that gives the
    share back on exit (a class, not a generator: it wraps every request)."""

    __slots__ = ("_budget", "taken")

    def __init__(self, budget: ResponseBudget) -> None:
        self._budget = budget
        self.taken = 0

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self._budget.held -= self.taken
        self.taken = 0

    def room(self) -> int:
        """Bytes this request may still take."""
        return self._budget.limit - self._budget.held

    def take(self, size: int) -> None:
        """Account for ``size`` more bytes held, or raise when the budget would run over."""
        budget = self._budget
        if budget.held + size > budget.limit:
            if self.taken + size > budget.limit:
                raise SyncProtocolError(f"response body larger than {budget.limit} bytes")
            raise SyncProtocolError(
                f"the node's answers in flight exceed {budget.limit} bytes together"
            )
        budget.held += size
        self.taken += size

    def give_back(self, size: int) -> None:
        """Return ``size`` bytes that are no longer held."""
        size = min(size, self.taken)
        self._budget.held -= size
        self.taken -= size


async def body_of(answer: Answer, lease: Lease) -> bytes:
    """The body of ``answer``, inflated within ``lease`` if a proxy compressed it.

    The transport has already charged the wire bytes to the lease (and refused codings
    that cannot be bounded); the inflated bytes count too, and the compressed ones are
    given back once inflated.
    """
    if not answer.coding:
        return answer.body
    body = await _inflate(answer.body, lease)
    lease.give_back(len(answer.body))
    return body


async def _inflate(raw: bytes, lease: Lease) -> bytes:
    """Inflate a gzip or zlib stream piece by piece, each piece taken from ``lease`` first.

    So a bomb stops at the budget with no more than the budget held, never inflated whole.
    Between two pieces the event loop gets a turn: inflating up to the 32 MiB budget takes
    about 0.1 s of CPU, and eight such answers in a row (one node's worker pool) held
    ``/-/healthy`` for most of a second on a busy machine.
    """
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    body = bytearray()
    pending = raw
    try:
        while True:
            piece = inflater.decompress(pending, _INFLATE_PIECE)
            lease.take(len(piece))
            body += piece
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and len(piece) < _INFLATE_PIECE):
                break
            await asyncio.sleep(0)  # let health checks and other nodes' answers through
    except zlib.error:
        raise SyncProtocolError("response body is not valid gzip or deflate data") from None
    return bytes(body)


#: Bytes inflated at a time (and the most the inflater holds beyond the budget).
_INFLATE_PIECE = 256 * 1024
