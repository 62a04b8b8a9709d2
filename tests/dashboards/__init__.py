"""Tests of the Grafana dashboards (a package, so whole-repo mypy sees one module per conftest)."""
