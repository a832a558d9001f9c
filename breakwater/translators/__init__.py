"""Pure translation, from policy texts (`pipeline`) to Envoy v3 resources (`snapshot`).

The rooms, in the order a policy goes through them: the policy model at this
level (documents, `pipeline`, `validate`, the immutable `policyset`,
`overrides`, `drains`), with the Gateway API front end beside it
(`gateway_api`); the resolved intermediate representation (`ir`); the Envoy
translators (`envoy`), which read only IR nodes; and `explain`. `snapshot`
joins them for one node group.

No I/O, no asyncio, no globals, so that translation gives the same answer
every time, runs off the event loop and needs no files in a test; the
policy sources in `breakwater.controlplane` do the reading, and
`tests/translators/test_purity.py` keeps it that way.
"""
