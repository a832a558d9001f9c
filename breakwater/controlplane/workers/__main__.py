"""`python -m breakwater.controlplane.workers FD PARENT_PID`: one xDS worker (started by `serve`)."""

from breakwater.controlplane.workers.worker import main

main()
