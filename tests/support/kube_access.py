"""What the API server's restricted user may do: a ClusterRole a test gives, bound by RBAC.

A product that reads Kubernetes must say clearly when it is refused. Tests show that
with the restricted user of tests/support/kube_apiserver.py, bound to a ClusterRole of
the test's choosing for the length of the test. RBAC's authorizer learns of a new
binding from a watch, a moment after the write, so the grant waits until the server
itself says the user may do what the first rule allows.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Sequence

from lightkube import Client
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

RBAC_GROUP = "rbac.authorization.k8s.io"


def _allowed(client: Client, user: str, rule: PolicyRule) -> bool:
    review = client.create(
        SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=user,
                resourceAttributes=ResourceAttributes(
                    verb=rule.verbs[0],
                    group=(rule.apiGroups or [""])[0],
                    resource=(rule.resources or [""])[0],
                ),
            )
        )
    )
    return bool(review.status and review.status.allowed)


@contextlib.contextmanager
def granted(
    admin: Client, user: str, rules: Sequence[PolicyRule], timeout: float = 10.0
) -> Iterator[str]:
    """`user` holds a new ClusterRole of `rules` until the block ends; yields the role's name.

    An empty `rules` binds a role that allows nothing.
    """
    name = f"breakwater-test-{secrets.token_hex(4)}"
    role = ClusterRole(metadata=ObjectMeta(name=name), rules=list(rules))
    binding = ClusterRoleBinding(
        metadata=ObjectMeta(name=name),
        roleRef=RoleRef(apiGroup=RBAC_GROUP, kind="ClusterRole", name=name),
        subjects=[Subject(apiGroup=RBAC_GROUP, kind="User", name=user)],
    )
    admin.create(role)
    try:
        admin.create(binding)
        try:
            deadline = time.monotonic() + timeout
            while rules and not _allowed(admin, user, rules[0]):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"RBAC did not give {user} the role {name} in {timeout} s")
                time.sleep(0.05)
            yield name
        finally:
            admin.delete(ClusterRoleBinding, name)
    finally:
        admin.delete(ClusterRole, name)


__all__ = ["granted"]
