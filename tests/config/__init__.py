"""Tests of the config loader, logging setup and the check command."""
