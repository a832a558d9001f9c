"""Tools for tests, demos and benchmarks: real processes and servers, no mocks."""
