"""Generated code for Breakwater's own gRPC API (`make proto`); do not edit."""
