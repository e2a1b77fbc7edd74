import { idleLine, sentence, WORDS } from "./words.js";

// The dashboard: cards drawn from GET /machines, kept current from the /events stream (no polling), and
// actions that call the same API routes as any client. The session cookie authorises every call; the
// API key never reaches this script.

const EVENTS_KEPT = 20;
const main = document.getElementById("machines");
const announce = document.getElementById("announce");
const live = document.getElementById("live");
const dialog = document.getElementById("confirm-shutdown");
// The event types come from the gateway (core/telemetry/events.ts), where they are defined once.
const EVENT_TYPES = main.dataset.eventTypes.split(",");

/** name → { machine, events, models } */
const cards = new Map();

const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const path = (name, action) => `/machines/${encodeURIComponent(name)}${action ? `/${action}` : ""}`;
const notice = document.getElementById("notice");
const say = (text) => {
  announce.textContent = text;
};
/** A failure, shown on screen (and announced: the element is role="alert"); a success clears it. */
const fail = (text) => {
  notice.textContent = text;
  notice.hidden = false;
};
const clearFailure = () => {
  notice.hidden = true;
};

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

const time = (iso) => new Date(iso).toLocaleTimeString();
const size = (bytes) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.round(bytes / 1e6)} MB`);

/** Calls the API; a lost session sends the page back to the login form. */
async function api(url, init) {
  const res = await fetch(url, { credentials: "same-origin", ...init });
  if (res.status === 401) {
    location.assign("/ui");
    throw new Error("The session ended; log in again");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : `${res.status} ${res.statusText}`);
  return body;
}

const post = (url, body) => api(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });

function leaseRows(m) {
  if (!m.lease_list.length) return `<li class="none">No leases</li>`;
  return m.lease_list
    .map(
      (l) => `<li class="lease" data-lease="${esc(l.id)}"><span class="holder">${esc(l.holder ?? "(no name)")}</span>
<span class="meta">for ${ago(l.taken_at)}${l.expires_at ? `, until ${esc(time(l.expires_at))}` : ", until released"}</span>
<button type="button" data-action="release" data-lease="${esc(l.id)}">Release</button></li>`,
    )
    .join("");
}

function modelRows(card) {
  const asleep = card.machine.power_state !== "on";
  if (!card.models.length) return `<li class="none">No models known</li>`;
  return card.models
    .map(
      (mo) =>
        `<li>${esc(mo.name)}${mo.size ? ` <span class="meta">${size(mo.size)}</span>` : ""}${asleep ? ` <span class="meta">(remembered)</span>` : ""}</li>`,
    )
    .join("");
}

/** When Ollama unloads a model: a time today, a date later, never past a year (keep_alive -1 says year 2318). */
function until(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (!(ms < 365 * 86_400_000)) return "kept loaded";
  return ms < 20 * 3600_000 ? `until ${time(iso)}` : `until ${new Date(iso).toLocaleString()}`;
}

/** Which models its Ollama has in memory now (GET /machines' `loaded`), in words; "" when none. */
function loadedLine(m) {
  const list = m.loaded ?? [];
  if (!list.length) return "";
  const one = (l) => {
    const about = [l.size_vram ? size(l.size_vram) : "", l.expires_at ? until(l.expires_at) : ""].filter(Boolean).join(", ");
    return about ? `${l.model} (${about})` : l.model;
  };
  return `In memory: ${list.map(one).join(", ")}`;
}

/** Its queue (GET /machines' `running` and `queue`), in words; "" while nothing runs or waits under max_concurrent. */
function queueLine(m) {
  if (!m.queue_length && !m.running) return "";
  const next = (m.queue ?? []).slice(0, 5).map((e) => `${e.key} ${Math.round(e.waited_s)} s`);
  const waiting = m.queue_length ? `${m.queue_length} waiting${next.length ? ` (next: ${next.join(", ")})` : ""}` : "none waiting";
  return `Queue: ${m.running} running, ${waiting}`;
}

/** The reasons the machine is on, in words. */
function why(m) {
  const parts = [];
  if (m.leases) parts.push(`${m.leases} lease(s)`);
  if (m.in_flight) parts.push(`${m.in_flight} running request(s)`);
  if (m.permanent_on) parts.push("Keep on");
  if (m.shutdown_deferred_reason) parts.push(`a shutdown waiting (${m.shutdown_deferred_reason})`);
  return parts.length ? `Held on by ${parts.join(", ")}` : "Nothing holds it on";
}

const QUEUE_POLL_MS = 3000;

function draw(name) {
  const card = cards.get(name);
  const m = card.machine;
  let el = main.querySelector(`article[data-machine="${CSS.escape(name)}"]`);
  if (!el) {
    el = document.createElement("article");
    el.className = "machine";
    el.dataset.machine = name;
    main.append(el);
  }
  // Keep keyboard focus on the same button across a redraw.
  const focused = el.contains(document.activeElement) ? document.activeElement.dataset : null;
  el.dataset.state = m.power_state;
  el.innerHTML = `<h2>${esc(name)}</h2>
<p class="state"><span class="dot"></span>${esc(WORDS[m.power_state] ?? m.power_state)} <span class="meta">for ${ago(m.power_state_since)}</span></p>
<p class="why">${esc(why(m))}</p>
${idleLine(m) ? `<p class="idle" data-idle="${esc(m.idle_shutdown_at ?? m.idle_shutdown_off)}">${esc(idleLine(m))}</p>` : ""}
<div class="actions">
<button type="button" data-action="wake">Wake</button>
<button type="button" data-action="permanent" aria-pressed="${m.permanent_on}">Keep on</button>
<button type="button" data-action="shutdown" class="danger">Shut down</button>
</div>
<h3>Leases</h3><ul class="leases">${leaseRows(m)}</ul>
<h3>Models</h3><ul class="models">${modelRows(card)}</ul>
<p class="loaded meta" hidden></p>
<p class="queue meta" hidden></p>
<h3>Recent events</h3><ol class="events">${card.events
    .slice()
    .reverse()
    .map((e) => `<li><time datetime="${esc(e.at)}">${esc(time(e.at))}</time> ${esc(sentence(e))}</li>`)
    .join("")}</ol>`;
  // Names Ollama gave: set as text, never as markup.
  const loaded = el.querySelector("p.loaded");
  loaded.textContent = loadedLine(m);
  loaded.hidden = !loaded.textContent;
  const queue = el.querySelector("p.queue");
  queue.textContent = queueLine(m);
  queue.hidden = !queue.textContent;
  // A line moves without events: while one waits, the card is read again every few seconds, and no longer after.
  if (m.queue_length > 0 && !card.queuePoll) {
    card.queuePoll = setTimeout(() => {
      card.queuePoll = null;
      refreshSoon(name);
    }, QUEUE_POLL_MS);
  }
  if (focused?.action) {
    const sel = `button[data-action="${focused.action}"]${focused.lease ? `[data-lease="${CSS.escape(focused.lease)}"]` : ""}`;
    el.querySelector(sel)?.focus();
  }
}

/** The list the machine gives while it is on; otherwise what the gateway remembers (no request reaches a sleeping machine). */
async function loadModels(name) {
  const card = cards.get(name);
  const m = card.machine;
  const remembered = () => m.models.map((n) => ({ name: n, size: m.model_sizes[n] }));
  // Which list this is: an event that redraws the card may change power_state before the next refresh reads it.
  card.modelsOn = m.power_state === "on";
  try {
    card.models = card.modelsOn ? ((await api(`${path(name)}/api/tags`)).models ?? remembered()) : remembered();
  } catch {
    card.models = remembered();
  }
  draw(name);
}

async function refresh(name) {
  const names = name ? [name] : [...cards.keys()];
  const list = name ? [await api(path(name))] : (await api("/machines")).machines;
  for (const m of list) {
    const card = cards.get(m.name) ?? { events: [], models: [] };
    card.machine = m;
    cards.set(m.name, card);
    draw(m.name);
    // Compared with the list shown, not with the card's last state: a power event already set that to "on".
    if (card.modelsOn === undefined || (m.power_state === "on") !== card.modelsOn) void loadModels(m.name);
  }
  return names;
}

const pending = new Set();
let timer = null;
/** Redraws the machines events touched, once per burst of events. */
function refreshSoon(name) {
  pending.add(name);
  clearTimeout(timer);
  timer = setTimeout(() => {
    const names = [...pending];
    pending.clear();
    for (const n of names) refresh(n).catch((err) => fail(err.message));
  }, 50);
}

function onEvent(e) {
  const card = cards.get(e.machine);
  if (!card) return refreshSoon(e.machine);
  card.events.push(e);
  if (card.events.length > EVENTS_KEPT) card.events.shift();
  if (e.type === "power") {
    card.machine.power_state = e.data.to;
    card.machine.power_state_since = e.at;
    say(`${e.machine}: ${sentence(e)}`);
  }
  draw(e.machine);
  refreshSoon(e.machine);
}

let retryMs = 1000;
let opened = false;

/**
 * Follows /events. The browser reconnects by itself after a dropped connection; a stream answered with an
 * error (a proxy's 502 while the gateway restarts, or 401 once the session is over) is closed for good, so
 * it is opened again here, less often each time (at most every 30 s); api() shows the login on a 401.
 */
function follow() {
  const source = new EventSource("/events");
  source.onopen = () => {
    live.dataset.live = "live";
    live.textContent = "live";
    retryMs = 1000;
    // After a reconnection (the gateway restarted) what was missed is read again.
    if (opened) start().catch((err) => fail(err.message));
    opened = true;
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, (m) => onEvent(JSON.parse(m.data)));
  source.onerror = () => {
    live.dataset.live = "reconnecting";
    live.textContent = "reconnecting…";
    if (source.readyState !== EventSource.CLOSED) return;
    api("/machines").catch(() => {});
    setTimeout(follow, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  };
}

// One gateway numbers every event: its id says which. Several gateways each number their own.
const eventKey = (e) => (e.replica === undefined ? String(e.id) : `${e.replica}|${e.at}|${e.type}|${JSON.stringify(e.data)}`);

/** Everything read afresh: the machines, then the recent events (merged with any that arrived meanwhile). */
async function start() {
  await refresh();
  const history = (await api("/events/history")).events;
  for (const [name, card] of cards) {
    // Behind a load balancer the history and the stream may come from two gateways, each numbering its own: one event
    // is told by where and when it happened and what it says, and they are ordered by time.
    const byEvent = new Map([...history.filter((e) => e.machine === name), ...card.events].map((e) => [eventKey(e), e]));
    card.events = [...byEvent.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id - b.id)).slice(-EVENTS_KEPT);
    draw(name);
  }
  main.setAttribute("aria-busy", "false");
  main.querySelector(".empty")?.remove();
}

function confirmShutdown(name, running) {
  document.getElementById("confirm-title").textContent = `Shut down ${name}?`;
  document.getElementById("confirm-text").textContent =
    running > 0
      ? `This cuts ${running} running generation(s) and ends every lease.`
      : "0 running generations would be cut. Every lease ends and the machine powers off.";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true }));
}

const ACTIONS = {
  async wake(name) {
    await post(path(name, "wake"), { holder: "dashboard" });
    say(`${name}: lease taken, waking`);
  },
  async release(name, button) {
    await post(path(name, "release"), { lease_id: button.dataset.lease });
    say(`${name}: lease released`);
  },
  async permanent(name) {
    const enabled = !cards.get(name).machine.permanent_on;
    await post(path(name, "permanent_on"), { enabled });
    say(`${name}: keep on ${enabled ? "on" : "off"}`);
  },
  async shutdown(name) {
    const running = (await api(path(name))).in_flight;
    if (!(await confirmShutdown(name, running))) return say("Shutdown cancelled");
    const answer = await post(path(name, "shutdown"));
    say(`${name}: ${answer.message ?? "shutdown sent"}`);
  },
};

main.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-action]");
  const name = button?.closest("article")?.dataset.machine;
  if (!button || !name) return;
  button.disabled = true;
  ACTIONS[button.dataset.action](name, button)
    .then(() => refresh(name))
    .then(clearFailure)
    .catch((err) => fail(`${name}: ${err.message}`))
    .finally(() => {
      button.disabled = false;
    });
});

start().catch((err) => fail(err.message));
follow();
// "for 3 min" is worked out in the browser: a local redraw keeps it true, with no request to the gateway.
setInterval(() => {
  for (const name of cards.keys()) if (cards.get(name).machine) draw(name);
}, 30_000);
