"""The label inference the policy tests rely on follows Prometheus' own rules."""

from __future__ import annotations

import pytest

from tests.alerts.promql_labels import PromQLError, infer_labels

_METRICS: dict[str, frozenset[str] | None] = {
    "size": frozenset({"job", "instance", "node", "folder"}),
    "info": frozenset({"job", "instance", "node", "folder", "folder_id", "type"}),
    "up": frozenset({"job", "instance"}),
    "latch": None,
}


def _sets(*sets: set[str]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(s) for s in sets)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('size{job=~"b.*"} != 0', _sets({"job", "instance", "node", "folder"})),
        ("sum by (node, nope) (size)", _sets({"node"})),
        ("sum(size) by (node)", _sets({"node"})),
        ("max without (instance, folder) (size)", _sets({"job", "node"})),
        ("count(size)", _sets(set())),
        ("topk(1, size)", _sets({"job", "instance", "node", "folder"})),
        # one-to-one on (...) keeps only the matching labels; ignoring drops them
        ("size * on (node) info", _sets({"node"})),
        ("size - ignoring (folder) info", _sets({"job", "instance", "node"})),
        # group_left copies the listed labels from the one side
        (
            "size * on (node, folder) group_left (folder_id) info",
            _sets({"job", "instance", "node", "folder", "folder_id"}),
        ),
        (
            "info * on (node) group_right (type) size",
            _sets({"job", "instance", "node", "folder", "type"}),
        ),
        ("size and on (node) up", _sets({"job", "instance", "node", "folder"})),
        ("time() - size > 3600", _sets({"job", "instance", "node", "folder"})),
        # or: either side's labels, checked separately
        ('up == 0 or absent(up{job="x", instance=~"y"})', _sets({"job", "instance"}, {"job"})),
        ("absent(sum(up))", _sets(set())),
        ("changes(size[5m:1m] offset 1h) == 0", _sets({"job", "instance", "node", "folder"})),
        ('label_replace(up, "site", "$1", "instance", "(.*)")', _sets({"job", "instance", "site"})),
        # a latch reads its own previous value: it adds nothing of its own
        (
            "(timestamp(size) and changes(size[5m]) > 0) or (last_over_time(latch[1d]) and size)",
            _sets({"job", "instance", "node", "folder"}),
        ),
        ("2 ^ 3 ^ -size", _sets({"job", "instance", "node", "folder"})),
    ],
)
def test_result_labels(expr: str, expected: frozenset[frozenset[str]]) -> None:
    assert infer_labels(expr, _METRICS) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("sum by (node) (size", "unexpected end"),
        ("unknown_metric > 0", "no labels known for metric 'unknown_metric'"),
        ("time() + 1", "the expression is a scalar"),
        ("size $ 2", "cannot read"),
        ("size and 1", "and needs vectors on both sides"),
    ],
)
def test_bad_expressions_are_refused(expr: str, message: str) -> None:
    with pytest.raises(PromQLError, match=message):
        infer_labels(expr, _METRICS)
