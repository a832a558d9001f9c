"""What more than one test package (and the benchmarks) needs, one job per module.

- `policies`: the payments Service, its Gateways and split HTTPRoutes, as text and as a
  policy directory; a directory read as `serve` reads it.
- `prometheus`: samples of the admin API's `/metrics`, parsed by `prometheus_client`.
- `ads`: an ADS client that plays a proxy's side of the protocol, message by message.
- `envoy`: a real Envoy pointed at a control plane, and the route weights it holds.
- `admin`: readings and writes of the admin API that tests repeat.
- `http`: JSON over HTTP that keeps the answer's headers and fails on a body that is not JSON.
- `proc`: the resident memory of a process.

What one test package alone uses stays next to its tests. Every process started
here is stopped by whoever started it.
"""
