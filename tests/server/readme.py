"""The README's Prometheus scrape configs, as the tests that run them read them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

README = Path(__file__).parents[2] / "README.md"
#: Where the README's configs point; replaced by the test exporter's address.
README_EXPORTER = "localhost:9888"


def readme_scrape_configs() -> dict[str, dict[str, Any]]:
    """Return the README's scrape configs by job name."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    jobs: dict[str, dict[str, Any]] = {}
    for block in blocks:
        data = yaml.safe_load(block)
        if isinstance(data, dict):
            for job in data.get("scrape_configs", []):
                jobs[job["job_name"]] = job
    assert {"btsync", "btsync-probe"} <= set(jobs), "README must show both scrape configs"
    return jobs
