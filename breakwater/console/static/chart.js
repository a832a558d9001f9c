// A small line chart as inline SVG: time across, one unit up, a dot per analysis interval.

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// The smallest of 1, 2 or 5 times a power of ten at or above `value` (1 for nothing at all).
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= value * 1.05) || 10 * power;
}

const VERDICT_COLOURS = { passed: "#1a6b32", failed: "#b3261e", inconclusive: "#8a5300" };

// series: [{label, colour, values: [number|null per point]}]; times: seconds since the epoch.
export function lineChart({ title, unit, times, series, verdicts, limit, width = 560, height = 170 }) {
  const pad = { left: 52, right: 12, top: 12, bottom: 26 };
  const svg = el("svg", {
    class: "chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
  });
  svg.appendChild(el("title", {}, title));
  const numbers = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  if (limit !== undefined && limit !== null) numbers.push(limit);
  const top = niceCeiling(Math.max(...numbers, 0));
  const first = times[0];
  const last = times[times.length - 1];
  const span = Math.max(1, last - first);
  const x = (t) => pad.left + ((t - first) / span) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - v / top) * (height - pad.top - pad.bottom);
  for (const tick of [0, top / 2, top]) {
    svg.appendChild(el("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), stroke: "#d8dde3" }));
    svg.appendChild(el("text", { x: pad.left - 6, y: y(tick) + 4, "text-anchor": "end" }, `${Number(tick.toPrecision(3))} ${unit}`));
  }
  // Intervals without a number (no canary traffic yet): a grey mark on the time axis.
  times.forEach((t, i) => {
    if (series.every((s) => s.values[i] === null || s.values[i] === undefined)) {
      const mark = el("rect", { x: x(t) - 1.5, y: y(0) - 8, width: 3, height: 8, fill: "#8a929e" });
      mark.appendChild(el("title", {}, `no numbers (${verdicts ? verdicts[i] : "no data"})`));
      svg.appendChild(mark);
    }
  });
  if (limit !== undefined && limit !== null) {
    svg.appendChild(el("line", { x1: pad.left, x2: width - pad.right, y1: y(limit), y2: y(limit), stroke: "#b3261e", "stroke-dasharray": "4 3" }));
  }
  svg.appendChild(el("text", { x: pad.left, y: height - 8 }, new Date(first * 1000).toISOString().slice(11, 19)));
  svg.appendChild(el("text", { x: width - pad.right, y: height - 8, "text-anchor": "end" }, `${new Date(last * 1000).toISOString().slice(11, 19)} UTC`));
  for (const s of series) {
    const points = times.map((t, i) => [t, s.values[i]]).filter(([, v]) => v !== null && v !== undefined);
    if (points.length > 1) {
      const d = points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.appendChild(el("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2 }));
    }
    points.forEach(([t, v]) => {
      const index = times.indexOf(t);
      const colour = verdicts ? VERDICT_COLOURS[verdicts[index]] || s.colour : s.colour;
      const dot = el("circle", { cx: x(t), cy: y(v), r: 3.5, fill: colour });
      dot.appendChild(el("title", {}, `${s.label}: ${v.toFixed(1)} ${unit}${verdicts ? ` (${verdicts[index]})` : ""}`));
      svg.appendChild(dot);
    });
  }
  return svg;
}
