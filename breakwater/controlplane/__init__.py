"""The running control plane: sources, store, snapshot cache, xDS server, admin API, metrics."""
