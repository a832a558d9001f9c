"""The fleet reports back: Envoy stats and load reports, received and summed over proxies."""
