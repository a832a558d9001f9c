// Building the page from data without ever parsing data as HTML, and numbers with their units.

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

// An empty page's sentence: what would fill it, `commands and paths` in backticks set as code.
export function empty(sentence) {
  return h("p", { class: "empty" }, sentence.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part)));
}

export function table(caption, headers, rows, none, kind) {
  if (!rows.length) return none instanceof Node ? none : h("p", { class: "empty" }, none);
  return h(
    "table",
    { class: kind },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col", class: numeric(c) ? "num" : "" }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => h("td", { class: numeric(headers[i]) ? "num" : "" }, cell))))),
  );
}

// Columns whose header names a unit are right-aligned.
function numeric(header) {
  return /\((%|ms|req\/s|s)\)$|^(weight|hosts|healthy|ejected|revision|requests)$/i.test(header);
}

export function state(text, kind) {
  return h("span", { class: `state ${kind || text}` }, text);
}

export function number(value, unit, digits = 1) {
  if (value === null || value === undefined) return "–";
  return `${Number(value).toFixed(digits)} ${unit}`;
}

export function clock(seconds) {
  if (!seconds) return "–";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(seconds) {
  const span = Math.max(0, Date.now() / 1000 - seconds);
  if (span < 90) return `${span.toFixed(0)} s ago`;
  if (span < 5400) return `${(span / 60).toFixed(0)} min ago`;
  return `${(span / 3600).toFixed(1)} h ago`;
}

export function short(version) {
  return version ? version.slice(0, 12) : "–";
}
