"""`python -m breakwater.controlplane.workers FD PARENT_PID [EVENT_LOOP]`: one xDS worker, started
by `serve`."""

from breakwater.controlplane.workers.worker import main

main()
