"""Pure translation, from policy texts (`pipeline`) to Envoy v3 resources (`snapshot`).

No I/O, no asyncio, no globals, so that translation gives the same answer
every time, runs off the event loop and needs no files in a test; the
policy sources in `breakwater.controlplane` do the reading, and
`tests/translators/test_purity.py` keeps it that way.
"""
