"""Accept and Accept-Encoding: any header gives 200 in some format or a 406, never a 500.

``Accept: application/openmetrics-text; version="1.0.0"`` (a quoted parameter, as RFC
9110 allows) used to answer 500 after scraping every node; these headers are what real
clients, proxies and careless scripts send.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_exporter.negotiation import OPENMETRICS, TEXT, accepts_gzip, negotiate, parse_accept
from tests.server.conftest import Exposition, Harness, parse_openmetrics

#: header -> the media type answered (None: 406).
ACCEPT_CASES: dict[str, str | None] = {
    'application/openmetrics-text; version="1.0.0"': OPENMETRICS,
    'application/openmetrics-text; version="1.0.0"; charset="utf-8"': OPENMETRICS,
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8": OPENMETRICS,
    "application/openmetrics-text; version=9.9.9": OPENMETRICS,  # answered in 1.0.0
    'application/openmetrics-text; version=garbage; escaping="x,y"': OPENMETRICS,
    "application/openmetrics-text;q=0.1, text/plain;q=0.9": TEXT,
    "text/plain;q=0, application/openmetrics-text": OPENMETRICS,
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2": TEXT,
    "application/*": OPENMETRICS,
    "text/*": TEXT,
    "*/*": TEXT,
    "application/json": TEXT,  # nothing we serve named: the text format, like Go exporters
    "": TEXT,
    ";;;,,,": TEXT,
    "text/plain;q=abc": TEXT,  # an invalid weight drops that item
    'text/plain; version="0.0.4': TEXT,  # unterminated quote
    "*/*;q=0": None,
    "text/plain;q=0, application/openmetrics-text;q=0": None,
    "application/openmetrics-text;q=0, text/*;q=0": None,
}


@pytest.mark.parametrize(("accept", "answered"), ACCEPT_CASES.items())
async def test_any_accept_header_gives_a_format_or_406(
    harness: Harness, accept: str, answered: str | None
) -> None:
    async with harness.client.get("/metrics", headers={"Accept": accept}) as response:
        body = await response.text()
        if answered is None:
            assert response.status == 406, body
            assert "text/plain" in body
            return
        assert response.status == 200, body
        assert response.content_type == answered
    if answered == OPENMETRICS:
        assert {f.name for f in parse_openmetrics(body)} >= {"btsync_up"}
    else:
        assert Exposition(body).find("btsync_up")


@pytest.mark.parametrize(
    "accept_encoding", ["gzip;q=abc", "gzip;q=", 'gzip;q="1"', ",,,;", "*;q=0, identity;q=0"]
)
async def test_any_accept_encoding_gives_200(harness: Harness, accept_encoding: str) -> None:
    headers = {"Accept-Encoding": accept_encoding}
    async with harness.client.get("/metrics", headers=headers) as response:
        assert response.status == 200


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_negotiation_never_raises(header: str) -> None:
    chosen = negotiate(header)
    assert chosen is None or chosen[1].startswith(("text/plain", OPENMETRICS))
    assert isinstance(accepts_gzip(header), bool)
    for media in parse_accept(header):
        assert 0 <= media.q <= 1
