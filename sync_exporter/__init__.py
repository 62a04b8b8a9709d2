"""sync-exporter: Prometheus exporter for BitTorrent Sync / Resilio Sync nodes (API v1)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sync-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
