"""What an Istio HTTP route does besides choosing destinations → the Breakwater rule's fields.

Timeouts, retries, faults, mirrors, header changes, rewrites and redirects,
one function each. Each returns the Breakwater field (already checked by its
model) or None after listing why it could not be carried.
"""

from __future__ import annotations

from typing import Any

from breakwater.importers.istio.checked import checked
from breakwater.importers.istio.ledger import Ledger
from breakwater.importers.istio.model import (
    Abort,
    Delay,
    FaultInjection,
    HeaderOperations,
    HttpRoute,
    Percentage,
    Redirect,
    Retry,
    Rewrite,
)
from breakwater.importers.istio.names import service_name
from breakwater.translators.documents import YamlPath
from breakwater.translators.durations import parse_duration
from breakwater.translators.model import Retry as BreakwaterRetry
from breakwater.translators.model import RetryCondition, Timeout
from breakwater.translators.traffic_model import (
    Fault,
    HeaderChanges,
    Mirror,
)
from breakwater.translators.traffic_model import Redirect as BreakwaterRedirect
from breakwater.translators.traffic_model import Rewrite as BreakwaterRewrite

ISTIO_DEFAULT_RETRY_ON = (
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)
ISTIO_DEFAULT_RETRY_STATUSES = [503]
"""What Istio retries on when `retries` gives no `retryOn` (503 is its retriable status)."""

ISTIO_REDIRECT_CODE = 301
"""Istio's redirect status when `redirectCode` is not given (Breakwater's own default is 302)."""

_RETRY_CONDITIONS: frozenset[str] = frozenset(RetryCondition.__args__)  # type: ignore[attr-defined]


def _percent(percentage: Percentage | None, legacy: int | None, default: float) -> float:
    if percentage is not None:
        return percentage.value
    if legacy is not None:
        return float(legacy)
    return default


def timeout(value: str, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    try:
        duration = parse_duration(value)
    except ValueError as error:
        ledger.left(at, str(error), "give the timeout as a duration such as 3s")
        return None
    if duration.total_seconds() == 0:
        ledger.left(
            at,
            "Istio's 0s turns the route's timeout off, and a Breakwater rule has no such switch "
            "(Envoy's default of 15s applies)",
            "give the rule a long `timeout.request` if requests may take longer than 15s",
        )
        return None
    ledger.took(*at)
    return checked(Timeout, {"request": value}, ledger, at, "give the timeout as a duration")


def retries(retry: Retry, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    """Istio counts retries, Breakwater attempts (the first one included): attempts + 1."""
    for extra in retry.model_extra or {}:
        reason = (
            "Breakwater has no locality-aware retry host selection"
            if extra == "retryRemoteLocalities"
            else "the importer does not know this retry field"
        )
        ledger.left((*at, extra), reason, "leave it out, or set it in Envoy by other means")
    out: dict[str, Any] = {"attempts": (retry.attempts if retry.attempts is not None else 2) + 1}
    if retry.attempts is None:
        ledger.note("retries without `attempts`: Istio's 2 retries were written (attempts: 3)")
    if retry.per_try_timeout is not None:
        out["perTryTimeout"] = retry.per_try_timeout
    retry_on = retry.retry_on
    if retry_on is None:
        retry_on = ISTIO_DEFAULT_RETRY_ON
        out["retriableStatusCodes"] = list(ISTIO_DEFAULT_RETRY_STATUSES)
        ledger.note(f"retries without `retryOn`: Istio's default was written ({retry_on}, 503)")
    conditions: list[str] = []
    statuses: list[int] = list(out.get("retriableStatusCodes", []))
    for condition in (c.strip() for c in retry_on.split(",") if c.strip()):
        if condition.isdigit():
            statuses.append(int(condition))
            if "retriable-status-codes" not in conditions:
                conditions.append("retriable-status-codes")
        elif condition in _RETRY_CONDITIONS:
            if condition not in conditions:
                conditions.append(condition)
        else:
            ledger.left(
                (*at, "retryOn"),
                f"{condition!r} is not a retry condition Breakwater knows "
                f"(it knows {', '.join(sorted(_RETRY_CONDITIONS))})",
                "retry on one of those, or leave the condition out",
            )
            return None
    out["retryOn"] = conditions
    for key in ("attempts", "perTryTimeout", "retryOn"):
        ledger.took(*at, key)
    if statuses:
        out["retriableStatusCodes"] = sorted(set(statuses))
    return checked(BreakwaterRetry, out, ledger, at, "write the rule's `retry` by hand")


def _delay(delay: Delay, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    for extra in delay.model_extra or {}:
        ledger.left(
            (*at, extra),
            "Breakwater injects fixed delays only"
            if extra == "exponentialDelay"
            else "the importer does not know this delay field",
            "use `fixedDelay`",
        )
    if delay.fixed_delay is None:
        ledger.left(
            at,
            "a delay without `fixedDelay` injects nothing Breakwater can write",
            "give `fixedDelay`",
        )
        return None
    for key in ("fixedDelay", "percentage", "percent"):
        ledger.took(*at, key)
    if delay.percentage is None and delay.percent is None:
        ledger.note("fault.delay without a percentage: written as 100 %")
    return {
        "duration": delay.fixed_delay,
        "percent": _percent(delay.percentage, delay.percent, 100.0),
    }


def _abort(abort: Abort, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    for extra in abort.model_extra or {}:
        ledger.left(
            (*at, extra),
            "Breakwater injects HTTP statuses only"
            if extra in {"grpcStatus", "http2Error"}
            else "the importer does not know this abort field",
            "abort with `httpStatus` (e.g. 503)",
        )
    if abort.http_status is None:
        ledger.left(
            at,
            "an abort without `httpStatus` has nothing Breakwater can inject",
            "give `httpStatus`",
        )
        return None
    ledger.took(*at, "httpStatus")
    ledger.took(*at, "percentage")
    if abort.percentage is None:
        ledger.note("fault.abort without a percentage: written as 100 %")
    return {"status": abort.http_status, "percent": _percent(abort.percentage, None, 100.0)}


def fault(fault_in: FaultInjection, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if fault_in.delay is not None:
        delay = _delay(fault_in.delay, ledger, (*at, "delay"))
        if delay is not None:
            out["delay"] = delay
    if fault_in.abort is not None:
        abort = _abort(fault_in.abort, ledger, (*at, "abort"))
        if abort is not None:
            out["abort"] = abort
    if not out:
        return None
    return checked(Fault, out, ledger, at, "write the rule's `fault` by hand")


def mirror(route: HttpRoute, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    """`mirror` + `mirrorPercentage` (or the older `mirrorPercent`), or the first of `mirrors`."""
    if route.mirror is not None:
        destination = route.mirror
        percent = _percent(route.mirror_percentage, route.mirror_percent, 100.0)
        where: YamlPath = (*at, "mirror")
        paths: list[YamlPath] = [(*at, "mirrorPercentage"), (*at, "mirrorPercent")]
        for extra_index in range(len(route.mirrors)):
            ledger.left(
                (*at, "mirrors", extra_index),
                "Breakwater mirrors a rule to one destination, and `mirror` already names it",
                "keep one mirror",
            )
    elif route.mirrors:
        first = route.mirrors[0]
        destination = first.destination
        percent = _percent(first.percentage, None, 100.0)
        where = (*at, "mirrors", 0, "destination")
        paths = [(*at, "mirrors", 0, "percentage")]
        for extra_index in range(1, len(route.mirrors)):
            ledger.left(
                (*at, "mirrors", extra_index),
                "Breakwater mirrors a rule to one destination; the first of `mirrors` was kept",
                "keep the mirror that matters most",
            )
    else:
        return None
    service = service_name(destination.host)
    if service is None:
        ledger.left(
            (*where, "host"),
            f"host {destination.host!r} cannot name a Breakwater Service",
            "mirror to a named host",
        )
        return None
    out: dict[str, Any] = {"service": service, "percent": percent}
    if destination.subset is not None:
        out["subset"] = destination.subset
    result = checked(Mirror, out, ledger, where, "write the rule's `mirror` by hand")
    if result is not None:
        for path in (*paths, (*where, "host"), (*where, "subset")):
            ledger.took(*path)
        if destination.port is not None:
            ledger.left(
                (*where, "port"),
                "a Breakwater mirror names a Service, whose endpoints carry their ports",
                "give the mirrored Service's endpoints the port to mirror to",
            )
    return result


def header_changes(ops: HeaderOperations, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if ops.set:
        out["set"] = [{"name": k, "value": v} for k, v in ops.set.items()]
    if ops.add:
        out["add"] = [{"name": k, "value": v} for k, v in ops.add.items()]
    if ops.remove:
        out["remove"] = list(ops.remove)
    for extra in ops.model_extra or {}:
        ledger.left((*at, extra), "Istio header operations are set, add and remove", "use those")
    if not out:
        return None
    for key in ("set", "add", "remove"):
        ledger.took(*at, key)
    return checked(HeaderChanges, out, ledger, at, "change these headers by hand, or leave them")


def rewrite(
    rewrite_in: Rewrite, path_kinds: set[str], ledger: Ledger, at: YamlPath
) -> dict[str, Any] | None:
    """Istio's `uri` replaces the prefix a prefix match matched, and the whole path otherwise."""
    for extra in rewrite_in.model_extra or {}:
        ledger.left(
            (*at, extra),
            "Breakwater rewrites a path by full path or matched prefix, not by regex"
            if extra == "uriRegexRewrite"
            else "the importer does not know this rewrite field",
            "rewrite with `uri`, or write the rule's `rewrite` by hand",
        )
    out: dict[str, Any] = {}
    if rewrite_in.uri is not None:
        if path_kinds == {"exact"}:
            out["path"] = {"full": rewrite_in.uri}
        elif "exact" in path_kinds:
            ledger.left(
                (*at, "uri"),
                "the rule matches some paths exactly and some by prefix, and a Breakwater rule "
                "rewrites all its matches one way",
                "split the rule in two: one for the exact paths, one for the prefixes",
            )
        else:
            out["path"] = {"prefix": rewrite_in.uri}
        if "path" in out:
            ledger.took(*at, "uri")
    if rewrite_in.authority is not None:
        out["host"] = rewrite_in.authority
        ledger.took(*at, "authority")
    if not out:
        return None
    return checked(BreakwaterRewrite, out, ledger, at, "write the rule's `rewrite` by hand")


def redirect(redirect_in: Redirect, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    for extra in redirect_in.model_extra or {}:
        ledger.left(
            (*at, extra),
            "Breakwater's redirect keeps the request's port unless `port` is given"
            if extra == "derivePort"
            else "the importer does not know this redirect field",
            "give the port to redirect to, or leave it out to keep the request's",
        )
    out: dict[str, Any] = {"statusCode": redirect_in.redirect_code or ISTIO_REDIRECT_CODE}
    if redirect_in.uri is not None:
        out["path"] = {"full": redirect_in.uri}
    if redirect_in.authority is not None:
        out["host"] = redirect_in.authority
    if redirect_in.port is not None:
        out["port"] = redirect_in.port
    if redirect_in.scheme is not None:
        out["scheme"] = redirect_in.scheme
    for key in ("uri", "authority", "port", "scheme", "redirectCode"):
        ledger.took(*at, key)
    return checked(BreakwaterRedirect, out, ledger, at, "write the rule's `redirect` by hand")


__all__ = [
    "fault",
    "header_changes",
    "mirror",
    "redirect",
    "retries",
    "rewrite",
    "timeout",
]
