"""Many writers racing read-modify-write loops with compare-and-set: no write lost, none overwritten."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from tests.support.admin import weights_url

WRITERS = 8
WRITES_EACH = 5
MAX_ATTEMPTS = 400  # per writer; a livelock fails the test instead of hanging it
DEADLINE = 30.0


@dataclass(frozen=True)
class Ack:
    writer: int
    expected: int
    revision: int
    weights: dict[str, int]


def test_compare_and_set_writers_never_lose_a_write(plane: ControlPlaneThread) -> None:
    url = weights_url(plane.admin_url)
    start_revision = http("GET", f"{plane.admin_url}/v1/status").body["state_revision"]
    acks: list[Ack] = []
    conflicts = [0] * WRITERS
    failures: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(WRITERS)
    stop_at = time.monotonic() + DEADLINE

    def writer(index: int) -> None:
        try:
            write_loop(index)
        except Exception as exc:  # reported below, not lost in the thread
            with lock:
                failures.append(f"writer {index}: {exc!r}")

    def write_loop(index: int) -> None:
        go.wait(10)
        done = 0
        for _attempt in range(MAX_ATTEMPTS):
            if done == WRITES_EACH or time.monotonic() > stop_at:
                break
            current = http("GET", url)
            if current.status != 200:
                with lock:
                    failures.append(f"writer {index}: GET {current.status} {current.text}")
                return
            expected = current.body["revision"]
            # Each write carries who made it, so the final state names its author.
            weights = {"stable": 1000 + index * 100 + done, "canary": 1}
            reply = http("PUT", url, {"weights": weights, "expectedRevision": expected})
            if reply.status == 409:
                if reply.body["current_revision"] == expected:
                    raise AssertionError(f"409 although {expected} is current: {reply.text}")
                conflicts[index] += 1
                continue
            if reply.status != 200:
                with lock:
                    failures.append(f"writer {index}: PUT {reply.status} {reply.text}")
                return
            if reply.body["weights"] != weights:
                raise AssertionError(f"sent {weights}, answered {reply.text}")
            with lock:
                acks.append(Ack(index, expected, reply.body["revision"], weights))
            done += 1
        if done != WRITES_EACH:
            with lock:
                failures.append(f"writer {index}: only {done} writes in {MAX_ATTEMPTS} attempts")

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE + 10)
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish"
    assert failures == []

    final_revision = http("GET", f"{plane.admin_url}/v1/status").body["state_revision"]
    assert len(acks) == WRITERS * WRITES_EACH
    # Every success moved the revision by exactly one: no write was counted without landing.
    assert final_revision - start_revision == len(acks)
    ordered = sorted(acks, key=lambda a: a.revision)
    revisions = [a.revision for a in ordered]
    assert revisions == list(range(start_revision + 1, final_revision + 1)), "shared revisions"
    # Each acknowledged write was based on the one just before it: one linear history,
    # so none replaced another it had not seen.
    previous = 0  # the rule had no override before the first write
    for ack in ordered:
        assert ack.expected == previous, (ack, previous)
        previous = ack.revision
    for index in range(WRITERS):
        mine = [a.revision for a in acks if a.writer == index]
        assert mine == sorted(mine), f"writer {index}'s writes landed out of order"

    last = ordered[-1]
    final = http("GET", url).body
    assert final == {
        "route": "payments",
        "rule": 0,
        "weights": last.weights,
        "source": "override",
        "revision": last.revision,
        "rule_name": "split",
    }
    print(
        f"\n{len(acks)} writes by {WRITERS} writers, {sum(conflicts)} conflicts (409) retried, "
        f"revisions {start_revision + 1}..{final_revision}"
    )
