"""Shared fixtures: the real binaries the end-to-end tests drive.

Each fixture returns the binary's path, or skips the test with a message that says how
to install it (scripts/test installs them itself when it runs as root).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "chromium": "chromium",
}


def _binary(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        package = _PACKAGES[name]
        pytest.skip(
            f"{name} not found: install Debian's {package} package "
            f"(apt-get update && apt-get install -y {package}), or run scripts/test as root"
        )
    return Path(found)


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Path to promtool (Debian package prometheus)."""
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> Path:
    """Path to the Prometheus server binary (Debian package prometheus)."""
    return _binary("prometheus")


@pytest.fixture(scope="session")
def alertmanager_bin() -> Path:
    """Path to Alertmanager (Debian package prometheus-alertmanager)."""
    return _binary("prometheus-alertmanager")


@pytest.fixture(scope="session")
def amtool() -> Path:
    """Path to amtool (Debian package prometheus-alertmanager)."""
    return _binary("amtool")


@pytest.fixture(scope="session")
def chromium_bin() -> Path:
    """Path to headless Chromium (Debian package chromium)."""
    return _binary("chromium")


#: Flags every headless Chromium run needs here: root, no GPU, and no background
#: networking (the machine's closed network refuses those connections noisily).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
