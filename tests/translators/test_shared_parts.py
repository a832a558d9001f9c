"""Equal parts of different documents are one object; documents, and parts that differ in
anything (a type, a field given or not), never are.

Read through the one pipeline the server uses (`PolicyReader(compact=True)`): two services
shaped like the benchmarks' mesh, each with the same resilience settings.
"""

from __future__ import annotations

from breakwater.translators.model import Metadata, Retry, Service
from breakwater.translators.model_parts import QUALIFIED_NAMES
from breakwater.translators.pipeline import PolicyReader, SourceText
from breakwater.translators.traffic_model import Fault

API = "apiVersion: breakwater.dev/v1alpha1"
GATEWAY = f"""{API}
kind: Gateway
metadata: {{name: edge}}
spec: {{address: 127.0.0.1, port: 10000}}
"""


def _service(index: int) -> str:
    name = f"svc-{index:05d}"
    return f"""{API}
kind: Service
metadata: {{name: {name}}}
spec:
  endpoints:
    - {{address: 127.0.0.{index}, port: 8080, labels: {{version: stable}}}}
  subsets:
    - {{name: stable, labels: {{version: stable}}}}
---
{API}
kind: ResiliencePolicy
metadata: {{name: {name}}}
spec:
  targetRef: {{kind: Service, name: {name}}}
  circuitBreaker: {{consecutiveErrors: 5}}
  bulkhead: {{maxConcurrentRequests: 100}}
  retry: {{attempts: 3, perTryTimeout: 500ms}}
  timeout: {{request: 3s}}
  healthCheck: {{interval: 5s, http: {{path: /health}}}}
---
{API}
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  gateways: [edge]
  hostnames: ["{name}.example"]
  rules:
    - backends: [{{service: {name}, subset: stable}}]
"""


TEXT = "---\n".join([GATEWAY, _service(1), _service(2)])


def _read() -> PolicyReader:
    return PolicyReader(compact=True)


def test_equal_parts_of_two_documents_are_one_object_and_the_documents_stay_two() -> None:
    loaded = _read().read({"mesh.yaml": SourceText("mesh.yaml", TEXT)})
    policyset = loaded.policyset
    assert policyset is not None, loaded.errors
    one, two = policyset.policies["svc-00001"], policyset.policies["svc-00002"]
    assert one is not two and one.spec is not two.spec  # they target other services
    for part in ("circuit_breaker", "bulkhead", "retry", "timeout", "health_check"):
        assert getattr(one.spec, part) is getattr(two.spec, part), part
    first, second = policyset.services["svc-00001"], policyset.services["svc-00002"]
    assert first.spec.subsets[0] is second.spec.subsets[0]
    assert first.spec.endpoints[0] != second.spec.endpoints[0]
    # a Service, its policy and its route are three documents with one metadata
    assert first.metadata is one.metadata is policyset.routes["svc-00001"].metadata
    assert len({id(d) for d in (first, one, policyset.routes["svc-00001"])}) == 3
    # the merged policies of the two services are equal: one spec
    merged = [policyset.effective_for_cluster(name).spec for name in ("svc-00001", "svc-00002")]
    assert merged[0] is merged[1]


def test_a_reread_from_scratch_gives_new_documents_with_the_same_parts() -> None:
    source = {"mesh.yaml": SourceText("mesh.yaml", TEXT)}
    before, after = _read().read(source).policyset, _read().read(source).policyset
    assert before is not None and after is not None
    assert before.policies["svc-00001"] is not after.policies["svc-00001"]
    assert before.policies["svc-00001"] == after.policies["svc-00001"]
    assert before.policies["svc-00001"].spec.retry is after.policies["svc-00001"].spec.retry


def test_parts_that_differ_in_a_type_or_a_field_given_are_not_one() -> None:
    explicit = Retry.model_validate({"attempts": 2, "retryOn": ["5xx", "reset"]})
    default = Retry.model_validate({"attempts": 2})
    assert explicit is not default
    assert explicit.model_fields_set == {"attempts", "retry_on"}
    assert default.model_fields_set == {"attempts"}
    whole = Fault.model_validate({"abort": {"percent": 1, "status": 503}})
    fraction = Fault.model_validate({"abort": {"percent": 1.0, "status": 503}})
    assert whole is not fraction
    assert Fault.model_validate({"abort": {"percent": 1, "status": 503}}) is whole


def test_a_part_made_in_code_is_its_own_object_with_the_held_parts_fields() -> None:
    held = Retry.model_validate({"attempts": 4})
    made = Retry(attempts=4)
    assert made is not held and made == held
    assert made.model_fields_set == {"attempts"}
    assert made.model_copy(update={"attempts": 5}).attempts == 5 and held.attempts == 4


def test_a_part_validated_under_a_context_is_not_shared() -> None:
    plain = Metadata.model_validate({"name": "apps"})
    qualified = Metadata.model_validate({"name": "apps"}, context={QUALIFIED_NAMES: True})
    assert qualified == plain and qualified is not plain
    assert Metadata.model_validate({"name": "apps.grpc"}, context={QUALIFIED_NAMES: True})


def test_a_service_holds_its_endpoints_however_equal_its_parts() -> None:
    data = {
        "apiVersion": "breakwater.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "a"},
        "spec": {"endpoints": [{"address": "10.0.0.1", "port": 80}]},
    }
    assert Service.model_validate(data) is not Service.model_validate(data)
