"""Breakwater: an xDS control plane for Envoy that speaks resilience policies."""

from importlib.metadata import version

__version__ = version("breakwater")
"""As installed, from pyproject.toml: the one place the version is written."""
