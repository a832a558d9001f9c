"""The operator-facing surfaces: HTTP admin API, gRPC API, OpenAPI document, auth and TLS."""
