"""Breakwater: an xDS control plane for Envoy that speaks resilience policies."""

__version__ = "0.1.0"
