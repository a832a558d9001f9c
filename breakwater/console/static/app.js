// The console's frame: the token, the pages, polling the API every two seconds, the banner when
// the control plane does not answer, and the one place that turns a write's answer into a sentence.

import { get, setToken, token } from "./api.js";
import { clock, h } from "./dom.js";
import * as endpoints from "./endpoints.js";
import * as overview from "./overview.js";
import * as rollouts from "./rollouts.js";
import * as routes from "./routes.js";
import * as services from "./services.js";

const PAGES = { overview, routes, services, rollouts, endpoints };
const POLL_MS = 2000;

let data = null; // the last answers read: {status, policies, routes, rollouts}
let locked = null; // the sentence shown instead of the page when reads need a token
let unreachableSince = null;
let timer = null;
let pressed = false; // a pointer is down: a redraw now would swallow the click

const $ = (id) => document.getElementById(id);

function pageName() {
  const name = location.hash.replace(/^#\/?/, "") || "overview";
  return name in PAGES ? name : "overview";
}

function notice(text, kind) {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

function canWrite() {
  if (!data || unreachableSince !== null) return false;
  return !data.status.writes_need_token || Boolean(token());
}

function showAccess() {
  let text;
  if (locked) text = "Reads need the token on this server.";
  else if (!data) text = "";
  else if (!data.status.writes_need_token) text = "Writes open: this server has no token (loopback only).";
  else if (token()) text = "Writes enabled with your token.";
  else text = "Read-only: writes need the token.";
  $("access").textContent = text;
}

async function write(what, send, shownRevision, settled) {
  try {
    await send();
    notice(`Done: ${what} written.`, "ok");
    if (settled) settled();
  } catch (error) {
    if (error.status === 409 && error.currentRevision !== undefined && error.currentRevision !== null) {
      notice(
        `Not written: someone changed ${what} since this page showed it (you saw revision ` +
          `${shownRevision}, it is now at revision ${error.currentRevision}). The page shows the ` +
          "current values again: check them and apply once more.",
        "bad",
      );
      if (settled) settled();
    } else if (error.status === 401) {
      notice(`Not written: the server refused the token. Enter the token from its --token-file. (${error.message})`, "bad");
    } else if (error.status === 0) {
      notice(`Not written: ${error.message}. Nothing changed; try again once the control plane answers.`, "bad");
    } else {
      notice(`Not written: ${error.message}`, "bad");
    }
  }
  await refresh(true);
}

async function read() {
  const [status, policies, routeList, rolloutList] = await Promise.all([
    get("/v1/status"),
    get("/v1/policies"),
    get("/v1/routes"),
    get("/v1/rollouts"),
  ]);
  return { status, policies, routes: routeList, rollouts: rolloutList };
}

function context() {
  return { ...data, canWrite: canWrite(), write, refresh };
}

function draw() {
  const name = pageName();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = $("page");
  const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
  let content;
  if (locked) {
    content = h("div", { class: "gate" }, h("h1", {}, "Token needed"), h("p", {}, locked));
  } else if (!data) {
    content = h("p", { class: "muted" }, "Reading the control plane…");
  } else {
    content = PAGES[name].render(context());
  }
  main.replaceChildren(content);
  for (const bar of main.querySelectorAll("[data-width]")) {
    bar.style.width = `${Math.max(0, Math.min(100, Number(bar.dataset.width))) * 0.8}px`;
  }
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  showAccess();
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · Breakwater console`;
}

async function refresh(fetchAgain = false) {
  if (!fetchAgain) {
    draw();
    return;
  }
  try {
    data = await read();
    const page = PAGES[pageName()];
    if (page.load) await page.load(context());
    locked = null;
    unreachableSince = null;
    $("unreachable").hidden = true;
    $("live").textContent = `live, read ${clock(Date.now() / 1000).slice(11)}`;
  } catch (error) {
    if (error.status === 401) {
      data = null;
      locked = token()
        ? `The server refused this token. Enter the token from the server's --token-file above. (${error.message})`
        : "This control plane shows nothing without its token (it runs with --protect-reads). Enter the token from the server's --token-file above.";
      $("live").textContent = "locked";
    } else if (error.status === 0) {
      unreachableSince = unreachableSince || Date.now() / 1000;
      const banner = $("unreachable");
      banner.textContent =
        `The control plane at ${location.host} is not answering since ${clock(unreachableSince).slice(11)}. ` +
        "What you see is what it last said; the console retries every 2 seconds.";
      banner.hidden = false;
      $("live").textContent = "not answering";
    } else {
      notice(`Could not read the control plane: ${error.message}`, "bad");
    }
  }
  draw();
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (!pressed) await refresh(true);
    schedule();
  }, POLL_MS);
}

function start() {
  document.addEventListener("pointerdown", () => { pressed = true; }, true);
  document.addEventListener("pointerup", () => { setTimeout(() => { pressed = false; }, 0); }, true);
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const field = $("token");
    setToken(field.value.trim());
    field.value = "";
    notice(token() ? "Token kept for this tab; it is sent with every call." : "", "ok");
    await refresh(true);
  });
  $("forget-token").addEventListener("click", async () => {
    setToken("");
    notice("Token forgotten: the console is read-only.", "ok");
    await refresh(true);
  });
  window.addEventListener("hashchange", async () => {
    notice("", "ok");
    await refresh(true);
    $("page").focus();
  });
  refresh(true).then(schedule);
}

start();
