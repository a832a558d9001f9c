"""Pure translation from Breakwater policies to Envoy v3 resources: no I/O, no asyncio, no globals."""
