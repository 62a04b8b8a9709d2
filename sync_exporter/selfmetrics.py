"""The exporter's own metrics: API requests, their durations, node failures, reloads.

One :class:`SelfMetrics` object per application. It is the scraper's
``RequestObserver`` (every API request is counted by node, method and outcome, and
timed by method) and a prometheus_client collector that renders those counts as fresh
families on each collection. Counting by hand rather than with ``Counter().labels()``
keeps everything per application (no global registry, no ``_created`` series) and lets
a reload drop the series of nodes that left the configuration.

Sized for fleets: a healthy node costs 14 series through API v1 and 12 through the web
GUI API (one success counter per method of its API, one failure counter per reason); the
duration histogram has no ``node`` label, so its size does not grow with the fleet (the
per-node time is ``btsync_scrape_duration_seconds``). Success counters and failure
reasons start at zero for every configured node, so ``rate()`` and ``increase()`` see the
first failed scrape. A node under ``api: auto`` starts with API v1's counters (the API it
tries first) and swaps the ones that never moved for the GUI API's once it is read
through that. A failed request's series
(``outcome`` other than success) appears with its first failure: the alert on API errors
waits for failures that keep coming, so missing the very first one changes nothing, and
pre-creating every outcome of every method would cost 56 series per node.
"""

from __future__ import annotations

import bisect
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from sync_exporter.metrics import BY_NAME
from sync_exporter.model import Outcome

#: API v1 methods a scrape uses; their series exist from the start for every v1 node.
SCRAPE_METHODS: tuple[str, ...] = (
    "get_folder_peers",
    "get_folder_prefs",
    "get_folders",
    "get_os",
    "get_secrets",
    "get_speed",
    "get_version",
)

#: Web GUI API actions a scrape uses (``token`` is the session mint).
GUI_METHODS: tuple[str, ...] = (
    "getstatuses",
    "getsyncfolders",
    "getsysteminfo",
    "token",
    "version",
)

#: The methods whose success counters start at zero, by the API a node is read through;
#: ``auto`` tries API v1 first.
METHODS_BY_API: dict[str, tuple[str, ...]] = {
    "v1": SCRAPE_METHODS,
    "gui": GUI_METHODS,
    "auto": SCRAPE_METHODS,
}

#: Upper bounds (seconds) of the request duration histogram buckets.
DURATION_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: Failure reasons: every outcome but success.
FAILURE_REASONS: tuple[str, ...] = tuple(o.value for o in Outcome if o is not Outcome.SUCCESS)


@dataclass(slots=True)
class _Histogram:
    """Cumulative-on-render bucket counts of one API method."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*DURATION_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            out.append((_bound(bound), running))
        return out


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class SelfMetrics:
    """Counters and gauges about the exporter itself; a collector and a RequestObserver.

    Observations for a node that is not configured (a scrape still in flight while a
    reload removed the node) are ignored, so a removed node leaves no series behind.
    """

    def __init__(self, *, version: str) -> None:
        self._version = version
        self._nodes: set[str] = set()
        #: Whose methods each node's zero-started success counters are (a key of METHODS_BY_API).
        self._apis: dict[str, str] = {}
        self._requests: dict[tuple[str, str, str], int] = {}
        self._durations: dict[str, _Histogram] = {m: _Histogram() for m in SCRAPE_METHODS}
        self._failures: dict[tuple[str, str], int] = {}
        self._reload_ok = False
        self._reload_success_time = 0.0

    def set_nodes(self, apis: Mapping[str, str]) -> None:
        """Make these the configured nodes (name to configured API): new ones start at
        zero, gone ones vanish."""
        self._nodes = set(apis)
        self._requests = {k: v for k, v in self._requests.items() if k[0] in self._nodes}
        self._failures = {k: v for k, v in self._failures.items() if k[0] in self._nodes}
        self._apis = {n: a for n, a in self._apis.items() if n in self._nodes}
        for node, api in apis.items():
            self.read_through(node, api)
            for reason in FAILURE_REASONS:
                self._failures.setdefault((node, reason), 0)

    def read_through(self, node: str, api: str) -> None:
        """Start ``node``'s success counters at zero for the methods of ``api``.

        Counters of another API that never moved go: they only ever said "0 requests"
        about an API the node is not read through (a GUI node under ``auto`` would
        otherwise carry seven v1 zeros for good). Counters with a count stay.
        """
        if node not in self._nodes or self._apis.get(node) == api:
            return
        self._apis[node] = api
        methods = METHODS_BY_API.get(api, ())
        success = Outcome.SUCCESS.value
        for key in [
            k
            for k, count in self._requests.items()
            if k[0] == node and k[2] == success and count == 0 and k[1] not in methods
        ]:
            del self._requests[key]
        for method in methods:
            self._requests.setdefault((node, method, success), 0)

    def observe(self, node: str, method: str, outcome: str, seconds: float) -> None:
        """Count one API request (the scraper calls this for every request it makes)."""
        if node not in self._nodes:
            return
        key = (node, method, str(outcome))
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._durations.get(method)
        if histogram is None:  # not setdefault: that builds a histogram on every request
            histogram = self._durations[method] = _Histogram()
        histogram.observe(seconds)

    def node_failed(self, node: str, reason: str) -> None:
        """Count one scrape in which ``node`` was down for ``reason``."""
        if node not in self._nodes:
            return
        key = (node, str(reason))
        self._failures[key] = self._failures.get(key, 0) + 1

    def reloaded(self, *, success: bool, when: float) -> None:
        """Record the result of a configuration load (startup, SIGHUP or POST /-/reload)."""
        self._reload_ok = success
        if success:
            self._reload_success_time = when

    def collect(self) -> Iterator[Metric]:
        """Yield the current values as fresh families (the prometheus_client Collector API)."""
        build = BY_NAME["btsync_exporter_build_info"].family()
        assert isinstance(build, GaugeMetricFamily)
        build.add_metric([self._version, platform.python_version()], 1)
        yield build

        requests = BY_NAME["btsync_exporter_api_requests_total"].family()
        assert isinstance(requests, CounterMetricFamily)
        for labels, count in sorted(self._requests.items()):
            requests.add_metric(list(labels), count)
        yield requests

        durations = BY_NAME["btsync_exporter_api_request_duration_seconds"].family()
        assert isinstance(durations, HistogramMetricFamily)
        for method, hist in sorted(self._durations.items()):
            durations.add_metric([method], hist.buckets(), hist.total)
        yield durations

        failures = BY_NAME["btsync_exporter_node_scrape_failures_total"].family()
        assert isinstance(failures, CounterMetricFamily)
        for (node, reason), count in sorted(self._failures.items()):
            failures.add_metric([node, reason], count)
        yield failures

        ok = BY_NAME["btsync_exporter_config_last_reload_successful"].family()
        assert isinstance(ok, GaugeMetricFamily)
        ok.add_metric([], 1 if self._reload_ok else 0)
        yield ok

        when = BY_NAME["btsync_exporter_config_last_reload_success_timestamp_seconds"].family()
        assert isinstance(when, GaugeMetricFamily)
        when.add_metric([], self._reload_success_time)
        yield when


def exporter_registry(self_metrics: SelfMetrics) -> CollectorRegistry:
    """Return a fresh registry with the self-metrics and the process metrics.

    Per application, never prometheus_client's global ``REGISTRY``: two apps in one
    process (tests, the demo) must not share counters.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(self_metrics)
    ProcessCollector(registry=registry)
    return registry
