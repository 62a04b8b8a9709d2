"""The errors a request to a Sync node ends in, grouped by what a caller can do about them::

    SyncError                      .outcome labels self-metrics and the node's down reason
    ├── SyncTransportError         connect refused/reset, DNS, TLS, timeout
    ├── SyncAuthError              HTTP 401/403, or no usable password
    ├── SyncHTTPError              any other status (.status); 400 means the API is off
    ├── SyncProtocolError          not HTTP, not UTF-8, not JSON, truncated, wrong shape
    └── SyncAPIError               {"error": N} / {"result": N} inside a 200 (.code)

Their own module so that the transport (:mod:`sync_exporter.node_http`) and both API
clients raise the same tree. Every message is built from fixed text and numbers, never
from ``str()`` of a library exception, so ``str(err)`` is always safe to log.
"""

from __future__ import annotations

from sync_exporter.model import Outcome

#: Longest SyncError message: node text inside one (an API error message) is cut to this,
#: so a node cannot fill log lines and the landing page.
MAX_MESSAGE = 300


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SyncError(Exception):
    """A request to a Sync node failed; ``str()`` is secret-free, ``outcome`` says how."""

    outcome: Outcome = Outcome.INVALID_RESPONSE

    def __init__(self, message: str, *, outcome: Outcome | None = None) -> None:
        super().__init__(clip(message, MAX_MESSAGE))
        if outcome is not None:
            self.outcome = outcome


class SyncTransportError(SyncError):
    """No HTTP answer: connection refused or reset, DNS, TLS handshake, or a timeout."""

    outcome = Outcome.CONNECT_ERROR


class SyncAuthError(SyncError):
    """The node refused the credentials (HTTP 401/403), or the password could not be read."""

    outcome = Outcome.AUTH_ERROR

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SyncHTTPError(SyncError):
    """Any other non-200 status; 400 is how a node with the API disabled answers."""

    def __init__(self, status: int) -> None:
        if status == 400:
            message = "API not enabled: set webui.api_key on the node (HTTP 400)"
            outcome = Outcome.API_DISABLED
        else:
            message = f"unexpected HTTP status {status}"
            outcome = Outcome.HTTP_ERROR
        super().__init__(message, outcome=outcome)
        self.status = status


class SyncProtocolError(SyncError):
    """An answer that cannot be used: not UTF-8, not JSON, truncated, or the wrong shape."""

    outcome = Outcome.INVALID_RESPONSE


class SyncAPIError(SyncError):
    """The node answered 200 with a logical error body (``{"error": N, "message": ...}``)."""

    outcome = Outcome.API_ERROR

    def __init__(self, code: int, message: str) -> None:
        text = f"API error {code}" + (f": {message}" if message else "")
        super().__init__(text)
        self.code = code


def status_error(status: int) -> SyncError:
    """The error for a non-200 status: 401/403 are the credentials, the rest HTTP errors."""
    if status in (401, 403):
        return SyncAuthError(f"wrong login or password (HTTP {status})", status=status)
    return SyncHTTPError(status)
