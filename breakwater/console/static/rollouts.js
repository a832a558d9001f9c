// Rollouts: phase, step, the canary's numbers over time, and the operator's commands.

import { call, quote } from "./api.js";
import { lineChart } from "./chart.js";
import { clock, empty, h, number, state, table } from "./dom.js";

const COMMANDS = [
  ["promote", "Promote", ["Progressing", "Paused"], "finish the current step now"],
  ["pause", "Pause", ["Progressing"], "hold at this step"],
  ["resume", "Resume", ["Paused"], "go on from this step"],
  ["abort", "Abort", ["Progressing", "Paused"], "send all traffic back to stable"],
  ["retry", "Retry", ["RolledBack", "Aborted"], "start again from the first step"],
];

function charts(rollout) {
  const analyses = rollout.analyses || [];
  if (analyses.length < 1) {
    return h("p", { class: "muted" }, "No analysis yet: the canary is judged once it gets traffic.");
  }
  const times = analyses.map((a) => a.at);
  const verdicts = analyses.map((a) => a.verdict);
  return h(
    "div",
    { class: "charts" },
    h("figure", {},
    h("div", { class: "legend" },
      h("span", {}, h("span", { class: "key canary" }), "canary 5xx (%)"),
      h("span", {}, h("span", { class: "key stable" }), "stable 5xx (%)"),
      h("span", {}, "dots: green passed, amber inconclusive, red failed")),
    lineChart({
      title: `${rollout.name}: 5xx share per analysis interval, canary and stable`,
      unit: "%",
      times,
      verdicts,
      series: [
        { label: "stable 5xx", colour: "#0b5cad", values: analyses.map((a) => a.stable_error_percent) },
        { label: "canary 5xx", colour: "#b3261e", values: analyses.map((a) => a.canary_error_percent) },
      ],
    })),
    analyses.some((a) => a.canary_latency_ms !== null)
      ? h("figure", {},
          h("div", { class: "legend" }, h("span", {}, h("span", { class: "key latency" }), "canary latency (ms) at the analysis percentile")),
          lineChart({
            title: `${rollout.name}: canary latency per analysis interval`,
            unit: "ms",
            times,
            verdicts,
            series: [{ label: "canary latency", colour: "#6b3fa0", values: analyses.map((a) => a.canary_latency_ms) }],
          }),
        )
      : null,
  );
}

function panel(rollout, ctx) {
  const slug = rollout.name.replace(/[^A-Za-z0-9_-]/g, "_");
  const last = rollout.last_analysis;
  return h(
    "article",
    { class: "panel", "aria-labelledby": `rollout-${slug}` },
    h("h2", { id: `rollout-${slug}` }, "Rollout ", h("code", {}, rollout.name), " ", state(rollout.phase)),
    h("p", {},
      `HTTPRoute ${rollout.route} rule ${rollout.rule}: ${rollout.stable} → ${rollout.canary}. `,
      `Step ${Math.min(rollout.step + 1, rollout.steps)} of ${rollout.steps}, canary weight ${rollout.canary_weight} %`,
      rollout.header_route ? ", header route on" : "",
      rollout.awaiting_ack ? ", waiting for every proxy to acknowledge" : "",
      `, ${rollout.failed_intervals} failed intervals.`),
    h("p", { class: "muted" }, rollout.message),
    last
      ? h("p", {}, "Last analysis ", state(last.verdict), ` ${clock(last.at)}: ${last.reason} (`,
          `canary 5xx ${number(last.canary_error_percent, "%")}, `,
          `stable 5xx ${number(last.stable_error_percent, "%")}, latency ${number(last.canary_latency_ms, "ms", 0)})`)
      : null,
    h(
      "div",
      { class: "actions", role: "group", "aria-label": `commands for ${rollout.name}` },
      COMMANDS.map(([command, label, phases, what]) =>
        h("button", {
          type: "button",
          id: `${command}-${slug}`,
          class: command === "abort" ? "" : "secondary",
          title: what,
          disabled: !ctx.canWrite || !phases.includes(rollout.phase),
          onclick: () =>
            ctx.write(`Rollout ${rollout.name}`, () =>
              call(
                "POST",
                `/v1/rollouts/${quote(rollout.name)}/${command}?expectedPhase=${rollout.phase}&expectedStep=${rollout.step}`,
              ),
            ),
        }, label),
      ),
      ctx.canWrite ? null : h("span", { class: "muted" }, "Read-only: enter the token to steer rollouts."),
    ),
    h("h3", {}, "Analysis over time"),
    charts(rollout),
    h("h3", {}, "Latest events"),
    table(
      null,
      ["time", "phase", "step", "canary (%)", "event"],
      rollout.history.slice(-8).reverse().map((e) => [clock(e.at), e.phase, e.step, `${e.canary_weight} %`, e.message]),
      "Nothing happened yet.",
    ),
  );
}

export function render(ctx) {
  const rollouts = ctx.rollouts.rollouts;
  return h(
    "div",
    {},
    h("h1", {}, "Rollouts"),
    rollouts.length
      ? rollouts.map((r) => panel(r, ctx))
      : empty("No Rollout is served. `deploy/examples/rollout.yaml` is one; `breakwater rollout status` follows it."),
  );
}
