"""The console in a real headless Chromium, against a real control plane and a real Envoy: what
it shows is what the API says, and what it writes changes what Envoy routes (counted with real
requests through the gateway)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from breakwater.client import http
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.proxyless import XdsClient
from tests.console.conftest import TOKEN, enter_token, screenshot
from tests.e2e.mesh import NODE_ID, Mesh
from tests.support.policies import ROUTE, PolicyDir

SPLIT = 1
"""The index of rule `split` in HTTPRoute payments (rule 0 is the rollout's)."""


def open_page(page: Page, mesh: Mesh, name: str) -> None:
    assert mesh.control_plane is not None
    page.goto(f"{mesh.control_plane.admin_url}/#/{name}")
    expect(page.locator("#live")).to_contain_text("live", timeout=10_000)


def split_weights(mesh: Mesh) -> dict[str, Any]:
    answer: dict[str, Any] = mesh.admin_api("GET", f"/v1/routes/payments/weights?rule={SPLIT}")
    return answer


def percent(text: str) -> float:
    """`75.0 %` as 75.0; a cell without a number (a dash) as -1."""
    found = re.match(r"([0-9.]+) %", text.strip())
    return float(found.group(1)) if found else -1.0


def envoy_canary_weight(mesh: Mesh, rule: int) -> int | None:
    action = mesh.route_action(f"payments/{rule}/0")
    if action is None:
        return None
    for cluster in action.get("weighted_clusters", {}).get("clusters", []):
        if cluster["name"].endswith("|canary"):
            return int(cluster.get("weight", 0))
    return None


def test_the_overview_lists_the_connected_proxy_as_synced(page: Page, mesh: Mesh) -> None:
    open_page(page, mesh, "overview")
    group = page.get_by_role("region", name=re.compile("^group "))
    expect(group.get_by_role("heading")).to_contain_text("edge")
    row = group.get_by_role("row").filter(has_text=NODE_ID)
    expect(row.get_by_role("cell").nth(1)).to_have_text("synced")
    expect(page.get_by_text("1 of 1")).to_be_visible()
    screenshot(page, "overview")


def test_the_overview_shows_a_policy_error_with_its_file_and_line(page: Page, mesh: Mesh) -> None:
    broken = mesh.policy_dir / "broken.yaml"
    broken.write_text(
        "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: broken}\n"
        "spec:\n  endpoints:\n    - {address: 127.0.0.1, port: seventy}\n"
    )
    try:
        open_page(page, mesh, "overview")
        errors = page.get_by_role("list").filter(has_text="broken.yaml")
        expect(errors).to_contain_text("broken.yaml:6", timeout=10_000)
        expect(page.get_by_role("main")).to_contain_text(
            "the last good configuration keeps serving"
        )
        screenshot(page, "overview-policy-error")
    finally:
        broken.unlink()
    expect(page.get_by_text("Every policy file loads.")).to_be_visible(timeout=10_000)


def test_without_the_token_every_write_control_is_disabled(page: Page, mesh: Mesh) -> None:
    open_page(page, mesh, "routes")
    expect(page.locator("#access")).to_have_text("Read-only: writes need the token.")
    editor = page.get_by_role("form", name=f"weights of payments rule {SPLIT}")
    expect(editor.get_by_label("canary", exact=True)).to_be_disabled()
    expect(editor.get_by_role("button", name="Apply weights")).to_be_disabled()
    page.goto(page.url.replace("#/routes", "#/rollouts"))
    expect(page.get_by_role("button", name="Abort")).to_be_disabled()
    page.goto(page.url.replace("#/rollouts", "#/endpoints"))
    for button in page.get_by_role("button", name=re.compile("^(Drain|Undrain)$")).all():
        expect(button).to_be_disabled()
    # The API refuses a write without the token too: the console is not the guard.
    assert mesh.control_plane is not None
    refused = http(
        "PUT",
        f"{mesh.control_plane.admin_url}/v1/routes/payments/weights",
        {"weights": {"stable": 1, "canary": 1}, "rule": SPLIT},
    )
    assert refused.status == 401, refused.text
    assert split_weights(mesh)["weights"] == {"stable": 100, "canary": 0}


def test_moving_a_weight_in_the_console_changes_what_envoy_routes(page: Page, mesh: Mesh) -> None:
    open_page(page, mesh, "routes")
    enter_token(page)
    expect(page.locator("#access")).to_have_text("Writes enabled with your token.")
    editor = page.get_by_role("form", name=f"weights of payments rule {SPLIT}")
    editor.get_by_label("stable", exact=True).fill("25")
    editor.get_by_label("canary", exact=True).fill("75")
    editor.get_by_label("canary", exact=True).press("Tab")
    expect(editor).to_contain_text("75.0 %")
    editor.get_by_role("button", name="Apply weights").click()
    expect(page.locator("#notice")).to_contain_text("Done: the weights of payments rule 1")

    mesh.wait_for(lambda: envoy_canary_weight(mesh, SPLIT) == 75, 10.0, "Envoy to get 25/75")
    result = mesh.send(400, concurrency=8)
    assert result.ok == 400, result.summary()
    assert abs(result.subset_fraction("canary") - 0.75) <= 0.07, result.summary()
    assert split_weights(mesh)["weights"] == {"stable": 25, "canary": 75}
    # The proxies report what they routed; the editor shows it as the live split.
    live = page.locator(f"#w-payments-{SPLIT}-canary-live")
    mesh.wait_for(lambda: 65 <= percent(live.inner_text()) <= 85, 10.0, "the live split", 0.2)
    screenshot(page, "routes")


def test_a_stale_revision_is_refused_with_a_sentence_and_overwrites_nothing(
    page: Page, mesh: Mesh
) -> None:
    open_page(page, mesh, "routes")
    enter_token(page)
    editor = page.get_by_role("form", name=f"weights of payments rule {SPLIT}")
    shown = split_weights(mesh)["revision"]
    expect(editor).to_contain_text(f"revision {shown}")
    editor.get_by_label("stable", exact=True).fill("90")
    editor.get_by_label("canary", exact=True).fill("10")
    # Someone else writes the rule meanwhile.
    other = mesh.admin_api(
        "PUT",
        "/v1/routes/payments/weights",
        {"weights": {"stable": 60, "canary": 40}, "rule": SPLIT, "expectedRevision": shown},
    )
    editor.get_by_role("button", name="Apply weights").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Not written: someone changed the weights of payments rule 1")
    expect(notice).to_contain_text(f"you saw revision {shown}, it is now at revision")
    expect(notice).to_contain_text(str(other["revision"]))
    assert split_weights(mesh)["weights"] == {"stable": 60, "canary": 40}
    mesh.wait_for(lambda: envoy_canary_weight(mesh, SPLIT) == 40, 10.0, "Envoy to get 60/40")
    # The editor shows the current weights again, ready for another try.
    expect(editor.get_by_label("canary", exact=True)).to_have_value("40")
    screenshot(page, "routes-conflict")


def test_services_show_health_what_applies_and_why(page: Page, mesh: Mesh) -> None:
    open_page(page, mesh, "services")
    payments = page.get_by_role("article", name="Service payments")
    expect(payments).to_contain_text("ResiliencePolicy/payments-breaker")
    expect(payments).to_contain_text("policies.yaml:")
    expect(payments.get_by_role("row").filter(has_text="subset canary")).to_contain_text("req/s")
    payments.get_by_text("Explain every setting of payments").click()
    cluster = payments.get_by_role("region", name="cluster payments", exact=True)
    explained = cluster.get_by_role("row").filter(has_text="circuitBreaker.failureRateThreshold")
    expect(explained).to_contain_text("ResiliencePolicy/payments-breaker")
    expect(explained).to_contain_text("failure_percentage_threshold")
    expect(payments).to_contain_text("hosts ejected")
    screenshot(page, "services")
    cluster.scroll_into_view_if_needed()
    screenshot(page, "services-explain", top=False)


def test_services_show_registered_instances_with_age_and_last_renewal(
    page: Page, mesh: Mesh
) -> None:
    path = "/v1/services/inventory/instances/10.9.0.7:8080"
    mesh.admin_api("PUT", path, {"labels": {"track": "stable"}, "zone": "eu-1a"})
    mesh.admin_api("PUT", path, {"labels": {"track": "stable"}, "zone": "eu-1a"})  # renewed
    open_page(page, mesh, "services")
    inventory = page.get_by_role("article", name="Service inventory")
    listed = inventory.get_by_role("region", name="Instances registered with inventory")
    row = listed.get_by_role("row").filter(has_text="10.9.0.7:8080")
    expect(row).to_contain_text("serving")
    expect(row).to_contain_text("eu-1a")
    expect(row).to_contain_text("track=stable")
    expect(row).to_contain_text("s ago")
    expect(listed).to_contain_text("TTL 300 s")
    # A Service that takes no registrations shows no such section.
    payments = page.get_by_role("article", name="Service payments")
    expect(payments.get_by_role("region", name="Instances registered with payments")).to_have_count(
        0
    )
    listed.scroll_into_view_if_needed()
    screenshot(page, "services-instances", top=False)


def test_a_rollout_aborted_from_the_console_sends_traffic_back_to_stable(
    page: Page, mesh: Mesh
) -> None:
    def rollout_status() -> dict[str, Any]:
        answer: dict[str, Any] = mesh.admin_api("GET", "/v1/rollouts/orders")
        return answer

    open_page(page, mesh, "rollouts")
    enter_token(page)
    rollout = page.get_by_role("article", name=re.compile("Rollout orders"))
    with mesh.continuous(rate=40, max_duration=40, path="/orders"):
        mesh.wait_for(
            lambda: (
                rollout_status()["phase"] == "Paused" and len(rollout_status()["analyses"]) >= 3
            ),
            20.0,
            "the rollout to pass its first step, pause, and judge a few more intervals",
            interval=0.2,
        )
        expect(rollout).to_contain_text("Paused")
        expect(rollout.locator("svg.chart circle").nth(2)).to_be_attached()
        screenshot(page, "rollouts")
    before = mesh.send(200, concurrency=8, path="/orders")
    assert before.by_subset["canary"] > 40, before.summary()
    # A command names the phase and step it was given for: one meant for step 0 does nothing now.
    stale = mesh.admin_api_raw(
        "POST", "/v1/rollouts/orders/promote?expectedPhase=Progressing&expectedStep=0"
    )
    assert stale.status == 409, stale.text
    assert stale.body["error"].startswith(
        "Rollout 'orders' is Paused at step 1 now, not Progressing at step 0 as you read it"
    )
    assert mesh.admin_api_raw("POST", "/v1/rollouts/orders/promote?expectedPhase=x").status == 400
    assert rollout_status()["phase"] == "Paused"

    rollout.get_by_role("button", name="Abort").click()
    expect(page.locator("#notice")).to_contain_text("Done: Rollout orders written.")
    expect(rollout).to_contain_text("Aborted")

    mesh.wait_for(lambda: envoy_canary_weight(mesh, 0) == 0, 10.0, "Envoy to send orders to stable")
    after = mesh.send(200, concurrency=8, path="/orders")
    assert after.ok == 200, after.summary()
    assert after.by_subset == {"stable": 200}, after.summary()
    # Only what applies to an aborted rollout stays offered.
    expect(rollout.get_by_role("button", name="Abort")).to_be_disabled()
    expect(rollout.get_by_role("button", name="Retry")).to_be_enabled()


def test_an_endpoint_is_drained_from_the_console(page: Page, mesh: Mesh) -> None:
    open_page(page, mesh, "endpoints")
    enter_token(page)
    orders = page.get_by_role("region", name="endpoints of orders")
    canary = mesh.upstreams["orders_canary"].port
    orders.get_by_role("row").filter(has_text=f":{canary}").get_by_role(
        "button", name="Drain"
    ).click()
    expect(page.locator("#notice")).to_contain_text("Done: the drain of")
    drained = page.get_by_role("table").filter(has_text="Every drain")
    expect(drained).to_contain_text(f"127.0.0.1:{canary}")
    expect(drained).to_contain_text("token@127.0.0.1")
    endpoints = mesh.admin_api("GET", "/v1/services/orders/endpoints")["endpoints"]
    assert [e["drained"] for e in endpoints] == [False, True]
    screenshot(page, "endpoints")


def test_with_protected_reads_nothing_shows_without_the_token_and_a_stop_shows_a_banner(
    page: Page, tmp_path: Path
) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    security = SecurityConfig(token=TOKEN, protect_reads=True)
    plane = ControlPlaneThread(policies.path, tmp_path / "state", security=security).start()
    try:
        page.goto(f"{plane.admin_url}/#/routes")
        main = page.get_by_role("main")
        expect(main.get_by_role("heading", name="Token needed")).to_be_visible()
        expect(main).to_contain_text("shows nothing without its token")
        expect(main).not_to_contain_text(ROUTE)
        expect(page.get_by_role("navigation")).to_be_visible()
        screenshot(page, "protected")

        enter_token(page, "not-the-token-at-all")
        expect(main).to_contain_text("The server refused this token")
        enter_token(page)
        expect(main.get_by_role("heading", name=f"HTTPRoute {ROUTE}")).to_be_visible()
        expect(page.locator("#access")).to_have_text("Writes enabled with your token.")
    finally:
        plane.stop()
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("is not answering since", timeout=10_000)
    expect(banner).to_contain_text("retries every 2 seconds")
    # What it last read stays on the page, said to be old by the banner.
    expect(main.get_by_role("heading", name=f"HTTPRoute {ROUTE}")).to_be_visible()
    screenshot(page, "unreachable")


def test_a_value_being_typed_keeps_its_focus_and_value_across_refreshes(
    page: Page, mesh: Mesh
) -> None:
    open_page(page, mesh, "routes")
    enter_token(page)
    field = page.get_by_role("form", name=f"weights of payments rule {SPLIT}").get_by_label(
        "canary", exact=True
    )
    # The field is disabled until the console has read the server again with the token: focusing
    # a disabled field does nothing, and the keys would go nowhere.
    expect(field).to_be_editable()
    field.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("33")
    read = page.locator("#live").inner_text()
    expect(page.locator("#live")).not_to_have_text(read, timeout=5_000)  # a poll redrew the page
    expect(field).to_be_focused()
    expect(field).to_have_value("33")
    page.keyboard.press("Tab")
    expect(page.locator(f"#w-payments-{SPLIT}-canary-range")).to_be_focused()
    page.get_by_role("button", name="Discard changes").nth(SPLIT).press("Enter")
    expect(field).to_have_value(str(split_weights(mesh)["weights"]["canary"]))


def test_the_overview_lists_a_proxyless_client_with_what_it_asked_for(
    page: Page, mesh: Mesh
) -> None:
    assert mesh.control_plane is not None
    client = XdsClient(mesh.control_plane.xds_port, "checkout-1", "nowhere")
    try:
        client.calls(1, timeout=1)  # a name no service answers to: asked for, none sent
        open_page(page, mesh, "overview")
        expect(page.get_by_role("heading", name="Proxyless gRPC clients")).to_be_visible()
        row = page.get_by_role("row").filter(has_text="checkout-1").filter(has_text="gRPC C-core")
        expect(row).to_contain_text("lds nowhere")
        screenshot(page, "overview-proxyless")
    finally:
        client.stop()
