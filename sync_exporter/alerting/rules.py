"""The alert logic: PromQL and annotations for every BTSync alert, built from tunables.

Each alert's builder writes only what is its own, the expression and the two annotations,
from its settings; ``build_rules`` adds what every alert shares (name, ``for``, labels,
runbook link) and returns each rule as plain data, in the order Prometheus' rule file
wants (``alert``/``record``, ``expr``, ``for``, ``labels``, ``annotations``). The
expressions follow three principles, explained per alert in ``docs/runbook.md``:

- fleet comparisons join on ``folder_id`` (equal on every node holding a folder) and only
  over copies that must agree (``comparable_copies``: never encrypted ones);
- per-copy joins and sums keep ``job, instance, node, folder``, so annotations can name
  the node and folder, and two exporters with a node of the same name never mix;
- durations come from ``for`` (the condition must hold at every evaluation), while the
  windows inside expressions stay short, so a single change resets the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sync_exporter.alerting.tunables import (
    AlertSettings,
    Tunables,
    format_bytes,
    format_duration,
)

__all__ = ["LAST_CHANGE", "Rule", "build_rules"]

#: A rule as it appears in the YAML file.
Rule = dict[str, object]

#: Recorded lower bound of the time a folder copy last changed (size or file count).
LAST_CHANGE = "node_folder:btsync_folder_last_change_timestamp_seconds:lower_bound"
_MAX_SIZE = "folder_id:btsync_folder_size_bytes:max"
_MIN_SIZE = "folder_id:btsync_folder_size_bytes:min"
_MAX_FILES = "folder_id:btsync_folder_files:max"
_MIN_FILES = "folder_id:btsync_folder_files:min"
_FOLDER = "job, instance, node, folder"
#: Matcher of the nodes read through the GUI API, which report their own pending transfers.
GUI_NODE = 'api="gui"'

#: Folder error codes with a known meaning (from btsync-gui; docs/sync-api.md,
#: "API v1 errors").
FOLDER_ERRORS: dict[int, str] = {
    100: "the node cannot open the folder's directory (moved, deleted, or its disk is not mounted)",
    101: "the node has no permission to write to the folder's directory",
}


class _Q:
    """Selector helper: ``q("btsync_up")`` -> ``btsync_up{job=~"btsync.*"}``."""

    def __init__(self, tunables: Tunables) -> None:
        self.selector = tunables.selector
        self.comparable = tunables.comparable_copies

    def __call__(self, metric: str, *extra: str) -> str:
        return f"{metric}{{{', '.join((self.selector, *extra))}}}"

    def copies(self, metric: str, labels: str = "folder_id") -> str:
        """``metric`` of every comparable copy, with ``labels`` of the copy's folder_info.

        A copy being indexed is left out: its size and file count are a count in progress.
        So is a paused copy (GUI nodes): it is behind by choice, which BTSyncFolderPaused
        reports; counting it would make every other copy look stalled.
        """
        return (
            "(\n"
            f"  {self(metric)}\n"
            f"  * on ({_FOLDER}) group_left ({labels})\n"
            f"  {self('btsync_folder_info', self.comparable)}\n"
            f"  unless on ({_FOLDER}) {self('btsync_folder_indexing')} == 1\n"
            f"  unless on ({_FOLDER}) {self('btsync_folder_paused')} == 1\n"
            ")"
        )

    def behind(self, metric: str, largest: str, lag: str) -> str:
        """Comparable copies whose ``metric`` is below the largest copy now and ``lag`` ago.

        ``min(largest now, largest lag ago)``: a copy that trails a folder being written
        to all day by less than ``lag`` never counts, nor do copies after a deletion that
        every node has applied.
        """
        then = f"{largest} offset {lag}"
        return (
            f"{self.copies(metric)}\n< on (folder_id) group_left ()\n"
            f"(({largest} <= {then}) or {then})"
        )


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def _seconds(millis: int) -> str:
    """Seconds as a plain PromQL number: ``300``, ``2592000``, ``0.4`` (never ``2.6e+06``)."""
    return f"{millis / 1000:.3f}".rstrip("0").rstrip(".")


class _Text(NamedTuple):
    """What an alert's builder writes: its expression and its two annotations."""

    expr: str
    summary: str
    description: str


@dataclass(frozen=True, slots=True)
class _Timing:
    """One alert's settings, with its durations as the rule's text writes them (``5m``)."""

    settings: AlertSettings

    @property
    def duration(self) -> str:
        """How long the condition must hold: the rule's ``for``."""
        return format_duration(self.settings.for_ms)

    @property
    def window(self) -> str:
        """The look-back of the expression's rate, changes or increase."""
        assert self.settings.window_ms is not None, "the alert's tunables give it no window"
        return format_duration(self.settings.window_ms)


def _alert(t: Tunables, name: str, settings: AlertSettings, text: _Text) -> Rule:
    return {
        "alert": name,
        "expr": text.expr.strip() + "\n",
        "for": format_duration(settings.for_ms),
        "labels": {"severity": settings.severity, **t.labels},
        "annotations": {
            "summary": text.summary,
            "description": text.description,
            "runbook_url": f"{t.runbook_url}#{name.lower()}",
        },
    }


def _recording_rules(t: Tunables, q: _Q) -> list[Rule]:
    window = format_duration(t.change_window_ms)
    rules: list[Rule] = []
    for name, metric, agg in (
        (_MAX_SIZE, "btsync_folder_size_bytes", "max"),
        (_MIN_SIZE, "btsync_folder_size_bytes", "min"),
        (_MAX_FILES, "btsync_folder_files", "max"),
        (_MIN_FILES, "btsync_folder_files", "min"),
    ):
        rules.append(
            {"record": name, "expr": f"{agg} by (folder_id) (\n{_indent(q.copies(metric))}\n)\n"}
        )
    # A latch: the time of the latest change seen in the window, else the previous value
    # (kept only while the folder exists). "timestamp - window" is a lower bound of when
    # the change happened, so "changed after the peer's last sync" is never a guess.
    rules.append(
        {
            "record": LAST_CHANGE,
            "expr": (
                "(\n"
                f"  timestamp({q('btsync_folder_size_bytes')}) - {_seconds(t.change_window_ms)}\n"
                f"  and on ({_FOLDER})\n"
                "  (\n"
                f"    changes({q('btsync_folder_size_bytes')}[{window}]) > 0\n"
                f"    or changes({q('btsync_folder_files')}[{window}]) > 0\n"
                "  )\n"
                ")\n"
                f"or on ({_FOLDER})\n"
                "(\n"
                f"  last_over_time({LAST_CHANGE}[{format_duration(t.change_memory_ms)}])\n"
                f"  and on ({_FOLDER})\n"
                f"  {q('btsync_folder_size_bytes')}\n"
                ")\n"
            ),
        }
    )
    return rules


def _exporter_down(q: _Q, a: _Timing) -> _Text:
    return _Text(
        f"{q('up')} == 0\nor\nabsent({q('up')})",
        "The sync-exporter cannot be scraped: its Sync nodes are not monitored.",
        "{{ if $labels.instance }}Prometheus has failed to scrape the sync-exporter at "
        "{{ $labels.instance }} (job {{ $labels.job }}) for " + a.duration + ": no node, folder "
        "or peer behind it is monitored.{{ else }}No scrape target matching {"
        + q.selector
        + "} has existed for "
        + a.duration
        + ": the sync-exporter was removed from service discovery or from the scrape "
        "configuration, so no Sync node is monitored.{{ end }}",
    )


def _node_down(q: _Q, a: _Timing) -> _Text:
    # The exporter's own counters, from the same scrape when it has them; in /probe mode
    # they come from a separate /metrics job (README), so fall back to the node name.
    failures = "topk(1, increase(btsync_exporter_node_scrape_failures_total{%s}[%s]))"
    same_scrape = failures % ("job=%q, instance=%q, node=%q", a.duration)
    any_scrape = failures % ("node=%q", a.duration)
    named = '{{ with . | first | label "reason" }} (most frequent failure: {{ . }}){{ end }}'
    reason = (
        '{{ with printf "'
        + same_scrape
        + '" $labels.job $labels.instance $labels.node | query }}'
        + named
        + '{{ else }}{{ with printf "'
        + any_scrape
        + '" $labels.node | query }}'
        + named
        + "{{ end }}{{ end }}"
    )
    return _Text(
        f"{q('btsync_up')} == 0",
        "A Sync node's API does not answer the exporter.",
        "Node {{ $labels.node }} has not answered its Sync API for " + a.duration + reason + "; "
        "none of its folders or peers are monitored (exporter {{ $labels.instance }}, "
        "job {{ $labels.job }}).",
    )


def _folder_error(q: _Q, a: _Timing) -> _Text:
    meaning = "".join(
        ("{{ if " if i == 0 else "{{ else if ") + f"eq $value {code}.0 }}}}: {text}"
        for i, (code, text) in enumerate(FOLDER_ERRORS.items())
    )
    meaning += "{{ else }}: the Sync web UI of that node shows the message{{ end }}"
    return _Text(
        f"{q('btsync_folder_error_code')} != 0",
        "A Sync folder reports an error and does not sync.",
        "Folder {{ $labels.folder }} on node {{ $labels.node }} has reported error code "
        "{{ $value }} for " + a.duration + meaning + ".",
    )


def _indexing_stuck(q: _Q, a: _Timing) -> _Text:
    window = a.window
    return _Text(
        f"{q('btsync_folder_files')}\n"
        f"and on ({_FOLDER}) ({q('btsync_folder_indexing')} == 1)\n"
        f"and on ({_FOLDER}) (changes({q('btsync_folder_files')}[{window}]) == 0)\n"
        f"and on ({_FOLDER}) (changes({q('btsync_folder_size_bytes')}[{window}]) == 0)",
        "A Sync folder has been indexing for hours without progress.",
        "Folder {{ $labels.folder }} on node {{ $labels.node }} has been indexing for "
        + a.duration
        + " while its file count ({{ $value }}) and size did not change.",
    )


def _no_peers(q: _Q, a: _Timing) -> _Text:
    return _Text(
        f"sum by ({_FOLDER}) ({q('btsync_folder_peers')}) == 0\n"
        f"unless on ({_FOLDER}) {q('btsync_folder_paused')} == 1",
        "A Sync folder has no connected peer: it replicates nowhere.",
        "Folder {{ $labels.folder }} on node {{ $labels.node }} has had no connected peer, "
        "direct or relay, for " + a.duration + ": changes made there exist nowhere else.",
    )


def _pending(q: _Q) -> str:
    """Copies whose data is pending: copies disagree, or it changed after every peer's sync.

    Only a comparable copy is judged by the fleet comparison: an encrypted or selective
    copy that is complete and idle while two other copies transfer has nothing pending.
    """
    read_write = q("btsync_folder_info", 'type="read_write"')
    return (
        "(\n"
        f"  {q('btsync_folder_info', q.comparable)}\n"
        "  and on (folder_id)\n"
        "  (\n"
        f"    {_MAX_SIZE} != {_MIN_SIZE}\n"
        f"    or {_MAX_FILES} != {_MIN_FILES}\n"
        "  )\n"
        ")\n"
        "or\n"
        "(\n"
        f"  {read_write}\n"
        f"  and on ({_FOLDER})\n"
        "  (\n"
        f"    {LAST_CHANGE}\n"
        f"    > on ({_FOLDER})\n"
        f"    max by ({_FOLDER}) ({q('btsync_peer_last_synced_timestamp_seconds')})\n"
        "  )\n"
        ")"
    )


def _pending_exact(q: _Q, window: str) -> str:
    """Copies whose own transfer queue holds bytes and has not shrunk within ``window``.

    Exact, from the node itself (GUI API ``queue_*``): no comparison of sizes. Any
    direction, bytes or files, going down within the window is progress.
    """
    parts = [f"sum by ({_FOLDER}) ({q('btsync_folder_pending_bytes')}) > 0"]
    for metric in ("btsync_folder_pending_bytes", "btsync_folder_pending_files"):
        parts.append(f"unless on ({_FOLDER})\n({q(metric)} < max_over_time({q(metric)}[{window}]))")
    return "\n".join(parts)


def _stalled(q: _Q, a: _Timing) -> _Text:
    window = a.window
    moved = (
        f"sum by ({_FOLDER}) (rate({q('btsync_peer_download_bytes_total')}[{window}]))\n"
        f"+ on ({_FOLDER})\n"
        f"sum by ({_FOLDER}) (rate({q('btsync_peer_upload_bytes_total')}[{window}]))"
    )
    peers = f"(sum by ({_FOLDER}) ({q('btsync_folder_peers')}) > 0)"
    # A node read through the GUI API says exactly what it still has to transfer, so the
    # guess from sizes and byte counters is left to the nodes that cannot say (API v1).
    guessed = (
        f"{peers}\n"
        f"* on ({_FOLDER}) group_left (folder_id, type)\n"
        f"(\n{_indent(_pending(q))}\n)\n"
        f"and on ({_FOLDER})\n"
        f"(\n{_indent(moved)}\n  == 0\n)\n"
        f"unless on (job, instance, node) {q('btsync_node_info', GUI_NODE)}"
    )
    exact = (
        f"{peers}\n"
        f"* on ({_FOLDER}) group_left (folder_id, type)\n"
        f"{q('btsync_folder_info')}\n"
        f"and on ({_FOLDER})\n"
        f"(\n{_indent(_pending_exact(q, window))}\n)\n"
        f"unless on ({_FOLDER}) {q('btsync_folder_paused')} == 1"
    )
    queued = (
        '{{ with printf "sum(btsync_folder_pending_bytes{job=%q, instance=%q, node=%q, '
        'folder=%q})" $labels.job $labels.instance $labels.node $labels.folder | query }}'
        '{{ . | first | value | humanize1024 | reReplaceAll "ki$" "Ki" }}B queued for '
        "transfer (the node's own count), and the queue has not shrunk for "
        + a.duration
        + ".{{ else }}data pending (its copies differ across nodes, or it changed after "
        "every peer's last completed sync), yet no byte has moved to or from any peer for "
        + a.duration
        + ".{{ end }}"
    )
    return _Text(
        f"(\n  (\n{_indent(guessed, '    ')}\n  )\n  or\n"
        f"  (\n{_indent(exact, '    ')}\n  )\n)\n"
        f"unless on ({_FOLDER})\n"
        f"({q('btsync_folder_indexing')} == 1 or {q('btsync_folder_error_code')} != 0)",
        "A Sync folder has data pending and connected peers, but nothing moves.",
        "Folder {{ $labels.folder }} (folder_id {{ $labels.folder_id }}) on node "
        "{{ $labels.node }} has {{ $value }} connected peer(s) and " + queued,
    )


def _out_of_sync(q: _Q, a: _Timing) -> _Text:
    lag = a.window
    behind_size = q.behind("btsync_folder_size_bytes", _MAX_SIZE, lag)
    behind_files = q.behind("btsync_folder_files", _MAX_FILES, lag)
    own_files = (
        '{{ with printf "btsync_folder_files{job=%q, instance=%q, node=%q, folder=%q}" '
        "$labels.job $labels.instance $labels.node $labels.folder | query }}"
        "{{ . | first | value }}{{ end }}"
    )
    largest = (
        '{{ with printf "' + _MAX_SIZE + '{folder_id=%q}" $labels.folder_id | query }}'
        '{{ . | first | value | humanize1024 | reReplaceAll "ki$" "Ki" }}B{{ end }} in '
        '{{ with printf "' + _MAX_FILES + '{folder_id=%q}" $labels.folder_id | query }}'
        "{{ . | first | value }}{{ end }} files"
    )
    return _Text(
        f"{q.copies('btsync_folder_size_bytes', 'folder_id, type')}\n"
        f"and on ({_FOLDER})\n"
        f"(\n  (\n{_indent(behind_size, '    ')}\n  )\n  or\n"
        f"  (\n{_indent(behind_files, '    ')}\n  )\n)",
        "Copies of one Sync folder have disagreed across nodes for hours.",
        "The copy of folder {{ $labels.folder }} (folder_id {{ $labels.folder_id }}, "
        "{{ $labels.type }}) on node {{ $labels.node }} has been behind the largest copy for "
        + a.duration
        + ", by more than what was written in "
        + lag
        + ': it holds {{ $value | humanize1024 | reReplaceAll "ki$" "Ki" }}B in '
        + own_files
        + " files, the largest copy "
        + largest
        + ".",
    )


def _peer_not_synced(q: _Q, a: _Timing) -> _Text:
    max_age_ms = a.settings.max_age_ms
    assert max_age_ms is not None
    synced = q("btsync_peer_last_synced_timestamp_seconds")
    peer = f"{_FOLDER}, peer_id"
    return _Text(
        f"(time() - {synced} > {_seconds(max_age_ms)})\n"
        f"* on ({peer}) group_left (name)\n"
        f"{q('btsync_peer_info')}\n"
        f"and on ({peer}) ({synced} > 0)\n"
        f"unless on ({peer}) {q('btsync_peer_online')} == 0\n"
        f"and on ({peer})\n"
        f"({synced}\n < on ({_FOLDER}) group_left ()\n {LAST_CHANGE})",
        "A connected Sync peer has not completed a sync for days while its folder changed.",
        "Peer {{ $labels.name }} ({{ $labels.peer_id }}) of folder {{ $labels.folder }} on node "
        "{{ $labels.node }} is connected, but last completed a sync "
        "{{ $value | humanizeDuration }} ago and the folder has changed since.",
    )


def _scrape_errors(q: _Q, a: _Timing) -> _Text:
    window = a.window
    failed = q("btsync_exporter_api_requests_total", 'outcome!="success"')
    errors = f"sum by (job, instance, node) (increase({failed}[{window}])) > 0"
    up = q("btsync_up")
    # With /metrics the counters and btsync_up come from one scrape. With /probe they do
    # not: btsync_up comes from the probe job (instance = the node) and the counters from
    # the exporter's own /metrics job (instance = the exporter), so that case falls back
    # to the node name, and only when every node of that name is up (never a guess
    # across namesakes of which one is down).
    return _Text(
        f"(\n  {errors}\n  and on (job, instance, node) ({up} == 1)\n)\n"
        f"or\n"
        f"(\n  {errors}\n"
        f"  unless on (job, instance, node) {up}\n"
        f"  and on (node) ({up} == 1)\n"
        f"  unless on (node) ({up} == 0)\n)",
        "API requests to a Sync node keep failing while the node is up.",
        '{{ $value | printf "%.0f" }} API requests from the exporter to node '
        "{{ $labels.node }} failed in the last "
        + window
        + ", and failures have kept coming for "
        + a.duration
        + " while the node is up: some of its folders or peers are missing from the "
        "metrics (exporter {{ $labels.instance }}).",
    )


def _version_mismatch(q: _Q, a: _Timing) -> _Text:
    versions = (
        '{{ range $i, $s := printf "count by (version) (btsync_node_info{job=%q})" '
        '$labels.job | query | sortByLabel "version" }}'
        "{{ if $i }}, {{ end }}{{ $s.Labels.version }} on {{ $s.Value }} node(s){{ end }}"
    )
    return _Text(
        f"count by (job) (count by (job, version) ({q('btsync_node_info')})) > 1",
        "Sync nodes of one job run different versions.",
        "The nodes of job {{ $labels.job }} have run {{ $value }} different Sync versions for "
        + a.duration
        + ": "
        + versions
        + ".",
    )


def _paused(q: _Q, a: _Timing) -> _Text:
    return _Text(
        f"{q('btsync_folder_paused')} == 1",
        "A Sync folder has been paused for long: it neither sends nor receives changes.",
        "Folder {{ $labels.folder }} on node {{ $labels.node }} has been paused for "
        + a.duration
        + ": changes made there reach no other node, and changes made elsewhere do not "
        "arrive.",
    )


def _disk_space_low(q: _Q, a: _Timing) -> _Text:
    settings = a.settings
    assert settings.horizon_ms is not None
    assert settings.min_free_bytes is not None
    window = a.window
    horizon = format_duration(settings.horizon_ms)
    free = q("btsync_folder_disk_free_bytes")
    one = "btsync_folder_disk_free_bytes{job=%q, instance=%q, node=%q, folder=%q}"
    labels = "$labels.job $labels.instance $labels.node $labels.folder"
    eta = (
        '{{ with printf "'
        + one
        + " / -deriv("
        + one
        + "["
        + window
        + ']) > 0" '
        + labels
        + " "
        + labels
        + " | query }}"
        ", and at the rate it filled over the last " + window + " it is full in about "
        "{{ . | first | value | humanizeDuration }}{{ end }}"
    )
    # node_exporter's mixin predicts filesystems the same way (predict_linear over hours).
    # Sync gives a volume's free space but not its size, so no percentage: a fixed floor
    # instead, which also keeps a volume that is already full (flat at 0) alerting.
    return _Text(
        f"(\n  {free}\n  and\n"
        f"  predict_linear({free}[{window}], {_seconds(settings.horizon_ms)}) < 0\n)\n"
        f"or\n{free} < {settings.min_free_bytes}",
        "The disk holding a Sync folder is full or will be soon.",
        "The volume holding folder {{ $labels.folder }} on node {{ $labels.node }} has "
        '{{ $value | humanize1024 | reReplaceAll "ki$" "Ki" }}B free' + eta + " (alerting "
        "when the trend reaches 0 within "
        + horizon
        + ", or below "
        + format_bytes(settings.min_free_bytes)
        + "). When it is full, Sync stops writing to every folder on it.",
    )


#: Each alert's builder, by name: the one place an alert's name is written.
_BUILDERS: dict[str, Callable[[_Q, _Timing], _Text]] = {
    "BTSyncExporterDown": _exporter_down,
    "BTSyncNodeDown": _node_down,
    "BTSyncFolderError": _folder_error,
    "BTSyncFolderIndexingStuck": _indexing_stuck,
    "BTSyncFolderNoPeers": _no_peers,
    "BTSyncFolderPaused": _paused,
    "BTSyncFolderStalled": _stalled,
    "BTSyncFolderOutOfSync": _out_of_sync,
    "BTSyncPeerNotSynced": _peer_not_synced,
    "BTSyncDiskSpaceLow": _disk_space_low,
    "BTSyncExporterScrapeErrors": _scrape_errors,
    "BTSyncVersionMismatch": _version_mismatch,
}


def build_rules(t: Tunables) -> list[Rule]:
    """Return the recording rules, then every enabled alert, in a stable order."""
    q = _Q(t)
    rules = _recording_rules(t, q)
    for name, build in _BUILDERS.items():
        settings = t.alert(name)
        if settings.enabled:
            rules.append(_alert(t, name, settings, build(q, _Timing(settings))))
    return rules
