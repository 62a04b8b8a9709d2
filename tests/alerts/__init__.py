"""Tests of the bundled alert rules (alerts/) and their generator."""
