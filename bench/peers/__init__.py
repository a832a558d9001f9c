"""Reference control planes (go-control-plane, java-control-plane) serving Breakwater's resources."""
