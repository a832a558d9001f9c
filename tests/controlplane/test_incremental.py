"""Incremental reading and translation give byte for byte what a full rebuild gives.

A directory of a few hundred services is edited in random order (weights,
policies, fleet defaults, failover, files added, moved and deleted, API
weight overrides, and edits that break it). After every step the policy
reader and translator kept from the steps before (warm caches) must agree
with a fresh read and a fresh translator: the same errors, and for a valid set
the same resources with the same encoded bytes and versions. An invalid step
changes nothing that was served: the next valid step is compared again.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from breakwater.controlplane.state.overlay import overlay
from breakwater.controlplane.state.store import Drain, WeightOverride
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.translators.documents import SourceText
from breakwater.translators.drains import applied_drains
from breakwater.translators.overrides import apply_overrides
from breakwater.translators.pipeline import LoadedPolicies, PolicyReader, policyset_from_texts
from breakwater.translators.policyset import PolicySet
from breakwater.translators.registration import RegisteredEndpoint, RegisteredServices
from breakwater.translators.snapshot import Translator, node_group

SERVICES = 200
PER_FILE = 25
EXTRA_STEPS = 2
API = "apiVersion: breakwater.dev/v1alpha1"


ZONES = ("eu-1a", "eu-1b", "eu-1c")


def _service(index: int, weight: int = 90, attempts: int = 3, zoned: bool = False) -> str:
    """A service with a stable and a canary endpoint, its policy and its 90/10 route. Zoned:
    its endpoints in zones, its policy with a zone line (`Mesh.zone_policy`), and every
    other service taking registrations."""
    name = f"svc-{index:04d}"
    at = f"{index // 250}.{index % 250 + 1}"
    zone = (
        [f", zone: {ZONES[index % 3]}", f", zone: {ZONES[(index + 1) % 3]}"] if zoned else ["", ""]
    )
    registration = "  registration: {}\n" if zoned and index % 2 == 0 else ""
    zone_line = "  loadBalancer: {policy: round-robin}\n" if zoned else ""
    return f"""{API}
kind: Service
metadata: {{name: {name}}}
spec:
{registration}  endpoints:
    - {{address: 10.0.{at}, port: 8080{zone[0]}, labels: {{version: stable}}}}
    - {{address: 10.1.{at}, port: 8080{zone[1]}, labels: {{version: canary}}}}
  subsets:
    - {{name: stable, labels: {{version: stable}}}}
    - {{name: canary, labels: {{version: canary}}}}
---
{API}
kind: ResiliencePolicy
metadata: {{name: {name}}}
spec:
  targetRef: {{kind: Service, name: {name}}}
  circuitBreaker: {{consecutiveErrors: 5, interval: 10s, openDuration: 30s}}
  bulkhead: {{maxConcurrentRequests: 100, maxQueuedRequests: 50}}
  retry: {{attempts: {attempts}, perTryTimeout: 500ms}}
  timeout: {{request: 3s}}
  healthCheck: {{interval: 5s, http: {{path: /health}}}}
{zone_line}---
{API}
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  gateways: [edge]
  hostnames: ["{name}.example"]
  rules:
    - matches: [{{path: {{prefix: /}}}}]
      backends:
        - {{service: {name}, subset: stable, weight: {weight}}}
        - {{service: {name}, subset: canary, weight: {100 - weight}}}
"""


def _gateway(attempts: int = 2) -> str:
    return f"""{API}
kind: Gateway
metadata: {{name: edge}}
spec: {{address: 127.0.0.1, port: 10000, nodeSelector: {{cluster: edge}}}}
---
{API}
kind: ResiliencePolicy
metadata: {{name: fleet-default}}
spec:
  timeout: {{request: 10s, connect: 1s}}
  retry: {{attempts: {attempts}}}
"""


def _failover(primary: int, target: int) -> str:
    return f"""{API}
kind: ResiliencePolicy
metadata: {{name: failover-{primary:04d}}}
spec:
  targetRef: {{kind: Service, name: svc-{primary:04d}, subset: stable}}
  failover: {{to: svc-{target:04d}}}
"""


class Mesh:
    """The policy files as texts, keyed by name, and the random edits made to them."""

    def __init__(self, rng: random.Random, zoned: bool = False, services: int = SERVICES) -> None:
        self.rng = rng
        self.zoned = zoned
        self.files: dict[str, str] = {"00-gateway.yaml": _gateway()}
        for start in range(0, services, PER_FILE):
            self.files[f"services-{start:04d}.yaml"] = "---\n".join(
                _service(i, zoned=zoned) for i in range(start, start + PER_FILE)
            )
        self.instances: dict[str, RegisteredEndpoint] = {}
        """`ADDRESS:PORT` → the instance registered there, as the state store lists them."""
        self.local: tuple[tuple[str, int], ...] = (("eu-1a", 2), ("eu-1b", 1))
        """The edge proxies by zone (`reconciler.local_zones`)."""
        self.next_service = services
        self.overrides: list[tuple[str, dict[str, int]]] = []
        self.drains: list[tuple[str, str]] = []

    def texts(self) -> dict[str, SourceText]:
        return {
            name: SourceText(f"/policies/{name}", self.files[name]) for name in sorted(self.files)
        }

    def _service_file(self) -> str:
        return self.rng.choice(sorted(n for n in self.files if n.startswith("services-")))

    def _services_in(self, name: str) -> list[int]:
        return [
            int(n)
            for n in re.findall(r"kind: Service\nmetadata: \{name: svc-(\d+)\}", self.files[name])
        ]

    def services(self) -> list[int]:
        return [i for name in sorted(self.files) for i in self._services_in(name)]

    def change_weight(self) -> str:
        name = self._service_file()
        index = self.rng.choice(self._services_in(name))
        weight = self.rng.randrange(0, 101)
        for subset, value in (("stable", weight), ("canary", 100 - weight)):
            self.files[name] = re.sub(
                rf"(service: svc-{index:04d}, subset: {subset}, weight: )\d+",
                rf"\g<1>{value}",
                self.files[name],
            )
        return f"weight of svc-{index:04d} in {name} to {weight}"

    def change_policy(self) -> str:
        name = self._service_file()
        index = self.rng.choice(self._services_in(name))
        attempts = self.rng.randrange(1, 6)
        self.files[name] = re.sub(
            rf"(name: svc-{index:04d}\}}\n(?:  .*\n)*?  retry: \{{attempts: )\d+",
            rf"\g<1>{attempts}",
            self.files[name],
        )
        return f"retry attempts of svc-{index:04d} to {attempts}"

    def fleet_default(self) -> str:
        attempts = self.rng.randrange(1, 4)
        self.files["00-gateway.yaml"] = _gateway(attempts)
        return f"fleet default attempts to {attempts}"

    def add_file(self) -> str:
        start = self.next_service
        count = self.rng.randrange(1, 12)
        self.next_service += count
        name = f"services-{start:04d}.yaml"
        self.files[name] = "---\n".join(
            _service(i, zoned=self.zoned) for i in range(start, start + count)
        )
        return f"added {name} ({count} services)"

    def delete_file(self) -> str:
        name = self._service_file()
        del self.files[name]
        return f"deleted {name}"

    def move_document(self) -> str:
        source, target = self._service_file(), self._service_file()
        documents = self.files[source].split("---\n")
        if len(documents) < 4 or source == target:
            return "moved nothing"
        moved = documents[:3]
        self.files[source] = "---\n".join(documents[3:])
        self.files[target] = "---\n".join(moved) + "---\n" + self.files[target]
        return f"moved a service from {source} to the top of {target}"

    def add_failover(self) -> str:
        name = self._service_file()
        primary = self.rng.choice(self._services_in(name))
        target = self.rng.choice(self._services_in(self._service_file()))
        self.files[f"failover-{primary:04d}.yaml"] = _failover(primary, target)
        return f"svc-{primary:04d} stable fails over to svc-{target:04d}"

    def break_yaml(self) -> str:
        name = self._service_file()
        self.files[name] = self.files[name].replace("subsets:", "subsets: [", 1)
        return f"a YAML syntax error in {name}"

    def unknown_subset(self) -> str:
        name = self._service_file()
        self.files[name] = self.files[name].replace("subset: canary", "subset: canery", 1)
        return f"a route in {name} names a subset that does not exist"

    def rule_settings(self) -> str:
        """A rule's own retry and timeout: sometimes a per-try timeout longer than the request
        timeout, which the checks refuse."""
        name = self._service_file()
        index = self.rng.choice(self._services_in(name))
        per_try = self.rng.choice([100, 400, 2500, 5000])
        request = self.rng.choice(["", "      timeout: {request: 2s}\n"])
        self.files[name] = re.sub(
            rf'(hostnames: \["svc-{index:04d}\.example"\]\n  rules:\n    - matches: .*\n)'
            r"(?:      (?:retry|timeout): .*\n)*",
            rf"\g<1>      retry: {{attempts: 2, perTryTimeout: {per_try}ms}}\n{request}",
            self.files[name],
        )
        return (
            f"rule retry of svc-{index:04d}: per try {per_try} ms{' request 2s' if request else ''}"
        )

    def hostname(self) -> str:
        """Another hostname: the route's shape changes."""
        name = self._service_file()
        index = self.rng.choice(self._services_in(name))
        self.files[name] = self.files[name].replace(
            f'hostnames: ["svc-{index:04d}.example"]', f'hostnames: ["svc-{index:04d}.test"]', 1
        )
        return f"hostname of svc-{index:04d}"

    def shift_lines(self) -> str:
        """A comment on top of a file: every document in it moves down a line."""
        name = self._service_file()
        self.files[name] = "# moved\n" + self.files[name]
        return f"a comment line on top of {name}"

    def drain(self) -> str:
        """An endpoint drained through the API, or the last one undrained."""
        if self.drains and self.rng.random() < 0.3:
            service, _ = self.drains.pop()
            return f"undrained an endpoint of {service}"
        index = self.rng.choice(self.services())
        self.drains.append((f"svc-{index:04d}", f"10.1.{index // 250}.{index % 250 + 1}:8080"))
        return f"drained the canary endpoint of svc-{index:04d}"

    def register(self) -> str:
        """An instance registers: mostly with a service that takes registrations, sometimes
        with one that does not or at a static endpoint's address (both left out)."""
        services = self.services()
        hosts = [i for i in services if i % 2 == 0][:4]  # a few, each with several instances
        index = self.rng.choice(hosts if hosts and self.rng.random() < 0.8 else services)
        number = self.rng.randrange(1, 250)
        address = self.rng.choice(
            [f"10.2.{index % 250}.{number}"] * 4 + [f"10.0.{index // 250}.{index % 250 + 1}"]
        )
        instance = RegisteredEndpoint(
            service=f"svc-{index:04d}",
            address=address,
            port=8080,
            labels=(("version", self.rng.choice(["stable", "canary", "other"])),),
            zone=self.rng.choice([*ZONES, None]),
            weight=self.rng.choice([1, 1, 2, 5]),
            draining=False,
        )
        self.instances[instance.key] = instance
        return f"registered {instance.key} with svc-{index:04d} in {instance.zone}"

    def _instance(self) -> RegisteredEndpoint | None:
        if not self.instances:
            return None
        return self.instances[self.rng.choice(sorted(self.instances))]

    def deregister(self) -> str:
        """An instance deregisters: it drains first, and later leaves."""
        instance = self._instance()
        if instance is None:
            return self.register()
        if instance.draining:
            del self.instances[instance.key]
            return f"{instance.key} left"
        self.instances[instance.key] = replace(instance, draining=True)
        return f"{instance.key} drains before it leaves"

    def renew(self) -> str:
        """A renewal: an equal instance read again from the store; nothing a proxy sees."""
        instance = self._instance()
        if instance is None:
            return "renewed nothing"
        self.instances[instance.key] = replace(instance, labels=tuple(instance.labels))
        return f"renewed {instance.key}"

    def zone_policy(self) -> str:
        """A service's policy turns zone-aware routing or zone failover on, or off."""
        index = self.rng.choice(self.services())
        line = self.rng.choice(
            [
                "loadBalancer: {policy: round-robin}",
                f"loadBalancer: {{zoneAware: {{minClusterSize: {self.rng.randrange(1, 4)}}}}}",
                f"failover: {{zones: [{self.rng.choice(ZONES)}]}}",
                "failover: {zones: []}",
            ]
        )
        for name in sorted(self.files):
            self.files[name] = re.sub(
                rf"(metadata: \{{name: svc-{index:04d}\}}\nspec:\n  targetRef: .*\n(?:  .*\n)*?)"
                r"  (?:loadBalancer|failover): .*\n",
                rf"\g<1>  {line}\n",
                self.files[name],
            )
        return f"svc-{index:04d}: {line}"

    def move_zone(self) -> str:
        """A static endpoint moves to another zone in its file."""
        index = self.rng.choice(self.services())
        zone = self.rng.choice(ZONES)
        for name in sorted(self.files):
            self.files[name] = re.sub(
                rf"(address: 10\.0\.{index // 250}\.{index % 250 + 1}, port: 8080, zone: )[\w-]+",
                rf"\g<1>{zone}",
                self.files[name],
            )
        return f"the stable endpoint of svc-{index:04d} to {zone}"

    def drain_instance(self) -> str:
        """A registered instance drained through the API, as a static endpoint is."""
        instance = self._instance()
        if instance is None:
            return self.drain()
        self.drains.append((instance.service, instance.key))
        return f"drained {instance.key} of {instance.service} through the API"

    def proxies(self) -> str:
        """Edge proxies come and go in the zones: the local cluster changes."""
        counts = [(zone, self.rng.randrange(0, 4)) for zone in ["", *ZONES[:2]]]
        self.local = tuple((zone, count) for zone, count in counts if count) or (("eu-1a", 1),)
        return f"edge proxies by zone {self.local}"

    def override(self) -> str:
        name = self._service_file()
        index = self.rng.choice(self._services_in(name))
        weight = self.rng.randrange(0, 101)
        self.overrides.append((f"svc-{index:04d}", {"stable": weight, "canary": 100 - weight}))
        return f"API weights of svc-{index:04d} to {weight}"


class _Weights:
    def __init__(self, route: str, weights: dict[str, int]) -> None:
        self.route, self.rule, self.weights = route, 0, weights


def _served(loaded: LoadedPolicies, overrides: list[tuple[str, dict[str, int]]]) -> PolicySet:
    assert loaded.policyset is not None
    latest = {route: weights for route, weights in overrides}
    effective, _ = apply_overrides(loaded.policyset, [_Weights(r, w) for r, w in latest.items()])
    return effective


def _drained(policyset: PolicySet, drains: list[tuple[str, str]]) -> PolicySet:
    """The set with endpoints drained as the server lays them over it."""
    return policyset.with_drained(applied_drains(policyset, drains))


def _fresh(policyset: PolicySet, group: frozenset[str]) -> Snapshot:
    """A build from scratch: a translator with empty caches."""
    return Snapshot(Translator().translate(policyset, group))


def _same_snapshot(incremental: Snapshot, full: Snapshot, step: str) -> None:
    assert incremental.type_urls == full.type_urls, step
    for type_url in full.type_urls:
        ours, theirs = incremental.resources(type_url), full.resources(type_url)
        assert sorted(ours) == sorted(theirs), f"{step}: {type_url} names differ"
        for name, resource in theirs.items():
            assert ours[name].any_bytes == resource.any_bytes, f"{step}: {type_url} {name}"
            assert ours[name].version == resource.version, f"{step}: {type_url} {name}"
            assert ours[name].refs == resource.refs, f"{step}: {type_url} {name}"
    assert incremental.version == full.version, step


@pytest.mark.parametrize("seed", [int(os.environ.get("BREAKWATER_INCREMENTAL_SEED", "1414"))])
def test_random_edits_give_what_a_full_rebuild_gives(seed: int) -> None:
    rng = random.Random(seed)
    mesh = Mesh(rng)
    edits: list[Callable[[], str]] = [
        mesh.change_weight,
        mesh.change_policy,
        mesh.fleet_default,
        mesh.add_file,
        mesh.delete_file,
        mesh.move_document,
        mesh.add_failover,
        mesh.override,
        mesh.break_yaml,
        mesh.unknown_subset,
    ]
    order = edits + [rng.choice(edits) for _ in range(EXTRA_STEPS)]
    rng.shuffle(order)
    reader, translator = PolicyReader(), Translator()
    done: list[str] = []
    good = mesh.files.copy()
    for number, edit in enumerate([lambda: "the files as generated", *order]):
        done.append(edit())
        step = f"seed {seed} (BREAKWATER_INCREMENTAL_SEED), step {number}: " + " → ".join(done[-3:])
        incremental = reader.read(mesh.texts())
        full = policyset_from_texts(mesh.texts())
        assert [str(e) for e in incremental.errors] == [str(e) for e in full.errors], step
        if full.policyset is None:
            mesh.files = good.copy()  # an operator puts the files back; nothing was served
        else:
            good = mesh.files.copy()
            served = _served(incremental, mesh.overrides)
            group = node_group(served, "edge", {})
            translator.next_generation()
            built = Snapshot(translator.translate(served, group))
            _same_snapshot(built, _fresh(_served(full, mesh.overrides), group), step)
            # A weight written through the API on top: the same services and policies, so
            # the warm translator finds the group's upstreams whole; a fresh one builds all.
            route = f"svc-{rng.choice(mesh.services()):04d}"
            written = _served(full, [*mesh.overrides, (route, {"stable": 1, "canary": 99})])
            translator.next_generation()
            _same_snapshot(
                Snapshot(
                    translator.translate(
                        _served(
                            incremental, [*mesh.overrides, (route, {"stable": 1, "canary": 99})]
                        ),
                        group,
                    )
                ),
                _fresh(written, group),
                f"{step} → API weights of {route}",
            )
    assert reader.decoded_files < len(mesh.files) + 2 * len(order)  # the others were reused


def _same_set(incremental: PolicySet, full: PolicySet, step: str) -> None:
    """Equal documents, and each read from the same file and line."""
    assert dict(incremental.sources) == dict(full.sources), step
    for kind in ("services", "policies", "gateways", "routes", "rollouts", "telemetry"):
        assert dict(getattr(incremental, kind)) == dict(getattr(full, kind)), f"{step}: {kind}"


ROUTE_STEPS = 28


@pytest.mark.parametrize("seed", [int(os.environ.get("BREAKWATER_INCREMENTAL_SEED", "2929"))])
def test_route_edits_give_what_a_full_rebuild_gives(seed: int) -> None:
    """Mostly edits of route rules (weights in files and through the API, a rule's own retry
    and timeout, some refused) and endpoint drains, which are checked and translated by the changed routes
    alone (`route_edits`, `route_patch`), among edits that take the whole path. The reader
    keeps its documents compactly, as the server's does: every error still names its line."""
    rng = random.Random(seed)
    mesh = Mesh(rng)
    route_edits: list[Callable[[], str]] = [
        mesh.change_weight,
        mesh.rule_settings,
        mesh.override,
        mesh.shift_lines,
        mesh.change_weight,
        mesh.drain,
    ]
    others: list[Callable[[], str]] = [
        mesh.hostname,
        mesh.change_policy,
        mesh.move_document,
        mesh.unknown_subset,
        mesh.add_file,
    ]
    order = [rng.choice(route_edits if rng.random() < 0.8 else others) for _ in range(ROUTE_STEPS)]
    # As the server reads: valid documents kept compactly, their lines read again for errors.
    reader, translator = PolicyReader(compact=True), Translator()
    done: list[str] = []
    good = mesh.files.copy()
    for number, edit in enumerate([lambda: "the files as generated", *order]):
        done.append(edit())
        step = f"seed {seed} (BREAKWATER_INCREMENTAL_SEED), step {number}: " + " → ".join(done[-3:])
        incremental = reader.read(mesh.texts())
        full = policyset_from_texts(mesh.texts())
        assert [str(e) for e in incremental.errors] == [str(e) for e in full.errors], step
        if full.policyset is None:
            mesh.files = good.copy()
            continue
        assert incremental.policyset is not None, step
        good = mesh.files.copy()
        _same_set(incremental.policyset, full.policyset, step)
        served = _drained(_served(incremental, mesh.overrides), mesh.drains)
        group = node_group(served, "edge", {})
        translator.next_generation()
        built = Snapshot(translator.translate(served, group))
        expected = _drained(_served(full, mesh.overrides), mesh.drains)
        _same_snapshot(built, _fresh(expected, group), step)
    assert translator.patched > ROUTE_STEPS // 4  # most route edits took the short way


ZONE_STEPS = 24
ZONE_SERVICES = 100


def _registered(registered: RegisteredServices, loaded: LoadedPolicies, mesh: Mesh) -> PolicySet:
    """The set the controller serves: registered instances laid over the YAML, then the API's
    weights and drains and the instances that drain before they leave (`overlay`)."""
    assert loaded.policyset is not None
    instances = [mesh.instances[key] for key in sorted(mesh.instances)]
    base = registered.apply(loaded.policyset, instances)
    overrides = {route: weights for route, weights in mesh.overrides}
    served, _ = overlay(
        base,
        [WeightOverride(route, 0, weights) for route, weights in overrides.items()],
        {(s, e): Drain(s, e, "test", 0.0) for s, e in mesh.drains},
        {},
        instances,
    )
    return served


@pytest.mark.parametrize("seed", [int(os.environ.get("BREAKWATER_INCREMENTAL_SEED", "2930"))])
def test_registrations_drains_and_zones_give_what_a_full_rebuild_gives(seed: int) -> None:
    """Instances register, renew, drain and leave; endpoints are drained through the API;
    endpoints move between zones, policies turn zone-aware routing and zone failover on and
    off, and the edge proxies come and go in their zones. Each step is built for the proxies
    without a zone and for those of two zones (zoned node groups with the local cluster), as
    the reconciler does, and must equal a build from scratch."""
    rng = random.Random(seed)
    mesh = Mesh(rng, zoned=True, services=ZONE_SERVICES)
    edits: list[Callable[[], str]] = [
        mesh.register,
        mesh.register,
        mesh.deregister,
        mesh.renew,
        mesh.drain,
        mesh.drain_instance,
        mesh.zone_policy,
        mesh.move_zone,
        mesh.proxies,
        mesh.change_weight,
        mesh.override,
        mesh.delete_file,
    ]
    order = [rng.choice(edits) for _ in range(ZONE_STEPS)]
    reader, translator, registered = PolicyReader(compact=True), Translator(), RegisteredServices()
    done: list[str] = []
    served_registered = 0
    for number, edit in enumerate([lambda: "the files as generated", mesh.register, *order]):
        done.append(edit())
        step = f"seed {seed} (BREAKWATER_INCREMENTAL_SEED), step {number}: " + " → ".join(done[-3:])
        incremental = reader.read(mesh.texts())
        full = policyset_from_texts(mesh.texts())
        assert [str(e) for e in incremental.errors] == [str(e) for e in full.errors], step
        assert full.policyset is not None, step
        served = _registered(registered, incremental, mesh)
        expected = _registered(RegisteredServices(), full, mesh)
        _same_set(served, expected, step)
        assert served.drained == expected.drained, step
        served_registered += any(
            e.address.startswith("10.2.")
            for s in served.services.values()
            for e in s.spec.endpoints
        )
        group = node_group(served, "edge", {})
        translator.next_generation()
        for zone in (None, "eu-1a", "eu-1b"):
            local = mesh.local if zone is not None else ()
            built = Snapshot(translator.translate(served, group, zone, local))
            fresh = Snapshot(Translator().translate(expected, group, zone, local))
            _same_snapshot(built, fresh, f"{step} (proxies in {zone})")
    assert served_registered > ZONE_STEPS // 3  # registered instances were served most steps
    assert translator.patched > 0, translator.patched
