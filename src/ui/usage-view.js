import { stackedBars } from "./usage-chart.js";

// The dashboard's Usage view (/ui#usage): tokens per day for the last 30 days stacked by key, model or person,
// kWh and cost per day per machine with what was saved, and the top keys, people and models. Read from GET /usage
// and GET /energy with the session's cookie; a `user` key's session gets its own key's rows only (the route says
// so, the view shows it). This file, the charts (usage-chart.js, uPlot) and the stylesheets are imported by usage.js
// when the view is first opened: the machines view loads none of them.

const DAYS = 30;
/** Groups shown apart in the chart; the rest are summed as "others". */
const SHOWN = 8;
const TOP = 10;
const STACKS = { key: "By key", model: "By model", user: "By person" };
const NO_PERSON = "(no person)";

const view = document.getElementById("usage");
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const count = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const tokens = (v) => count.format(v);
const kwh = (v) => (v == null ? "–" : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} kWh`);
const pad = (n) => String(n).padStart(2, "0");
const dateOf = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

let state = null;
let charts = [];
let stack = "key";

/** Calls the API; a lost session sends the page back to the login form (as app.js does). */
async function api(url) {
  const res = await fetch(url, { credentials: "same-origin" });
  if (res.status === 401) {
    location.assign("/ui");
    throw new Error("The session ended; log in again");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${url.split("?")[0]}: ${typeof body.detail === "string" ? body.detail : `${res.status} ${res.statusText}`}`);
  return body;
}

let files;
/** uPlot's script, its stylesheet and this view's, from the gateway (no CDN), once. */
function loadFiles() {
  files ??= new Promise((resolve, reject) => {
    const sheet = (href) => Object.assign(document.createElement("link"), { rel: "stylesheet", href });
    const script = Object.assign(document.createElement("script"), { src: "/ui/assets/uPlot.iife.min.js" });
    script.onload = resolve;
    script.onerror = () => reject(new Error("The chart library did not load"));
    document.head.append(sheet("/ui/assets/uPlot.min.css"), sheet("/ui/assets/usage.css"), script);
    // Redrawn in the other theme's colours when the system's changes.
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => state && !view.hidden && draw());
  });
  return files;
}

/** The last 30 days in the browser's time, today last: the chart's x axis. */
function lastDays() {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  return Array.from({ length: DAYS + 1 }, (_, i) => {
    const d = new Date(today);
    d.setDate(d.getDate() - (DAYS - 1 - i));
    return { key: dateOf(d), t: d.getTime() / 1000, at: d };
  });
}

async function load() {
  const all = lastDays();
  const days = all.slice(0, DAYS);
  const range = `from=${days[0].key}&to=${all[DAYS].key}`;
  const byDay = (field) => api(`/usage?group_by=${field},day&${range}`).then((a) => a.rows);
  // /energy answers for a period: one per day, today's ending now (a day still to come would count as saved).
  const energyDay = (d, i) => {
    const to = i === DAYS - 1 ? new Date() : all[i + 1].at;
    return api(`/energy?from=${encodeURIComponent(d.at.toISOString())}&to=${encodeURIComponent(to.toISOString())}`).then((a) => a.machines);
  };
  const [key, model, user, energy] = await Promise.all([byDay("key"), byDay("model"), byDay("user"), Promise.all(days.map(energyDay))]);
  return { days, rows: { key, model, user }, energy };
}

/** Rows of /usage grouped by `field` and day → [{name, values per day, totals}], the most tokens first. */
function groupsOf(rows, field, days) {
  const index = new Map(days.map((d, i) => [d.key, i]));
  const groups = new Map();
  for (const r of rows) {
    const name = r[field] ?? NO_PERSON;
    const g = groups.get(name) ?? { name, values: days.map(() => 0), requests: 0, errors: 0, prompt: 0, completion: 0, unreported: 0, kwh: null };
    groups.set(name, g);
    const i = index.get(r.day);
    if (i !== undefined) g.values[i] += r.prompt_tokens + r.completion_tokens;
    g.requests += r.requests;
    g.errors += r.errors;
    g.prompt += r.prompt_tokens;
    g.completion += r.completion_tokens;
    g.unreported += r.unreported;
    if (r.energy_kwh != null) g.kwh = (g.kwh ?? 0) + r.energy_kwh;
  }
  return [...groups.values()].sort((a, b) => b.prompt + b.completion - (a.prompt + a.completion) || b.requests - a.requests);
}

/** At most SHOWN groups, the rest summed as one. */
function folded(groups) {
  if (groups.length <= SHOWN) return groups;
  const rest = groups.slice(SHOWN - 1);
  const values = rest[0].values.map((_, i) => rest.reduce((a, g) => a + g.values[i], 0));
  return [...groups.slice(0, SHOWN - 1), { name: `${rest.length} others`, values }];
}

function drawTokens() {
  const host = document.getElementById("tokens-chart");
  for (const b of view.querySelectorAll("[data-stack]")) b.setAttribute("aria-pressed", String(b.dataset.stack === stack));
  view.querySelector("#usage-tokens").dataset.stackedBy = stack;
  const groups = folded(groupsOf(state.rows[stack], stack, state.days));
  if (!groups.length) return void (host.innerHTML = `<p class="empty-note">No request counted in the last ${DAYS} days.</p>`);
  charts.push(stackedBars(host, { days: state.days, groups, format: tokens, label: "Tokens" }));
}

/** Per machine, the 30 days of /energy summed; and per day, each machine's kWh and the saved kWh. */
function energyOf(perDay) {
  const machines = new Map();
  perDay.forEach((list, i) => {
    for (const m of list) {
      const e = machines.get(m.name) ?? { name: m.name, values: perDay.map(() => 0), saved: perDay.map(() => 0), on_hours: 0, kwh: null };
      machines.set(m.name, e);
      e.on_hours += m.on_hours ?? 0;
      e.currency = m.currency;
      e.measured ||= m.measured;
      if (m.kwh == null) continue;
      e.values[i] = m.kwh;
      e.saved[i] = m.saved_kwh ?? 0;
      for (const f of ["kwh", "cost", "saved_kwh", "saved_cost"]) if (m[f] != null) e[f] = (e[f] ?? 0) + m[f];
    }
  });
  return [...machines.values()];
}

function drawEnergy() {
  const host = document.getElementById("energy-chart");
  const all = energyOf(state.energy);
  const known = all.filter((m) => m.kwh != null);
  const unset = all.filter((m) => m.kwh == null).map((m) => m.name);
  const money = (v, currency) => {
    if (v == null) return "";
    // ENERGY_CURRENCY is any short word (€, kr, EURO): only an ISO code has a currency format.
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(v);
    } catch {
      return `${v.toFixed(2)} ${currency}`;
    }
  };
  const sum = (f) => known.reduce((a, m) => (m[f] == null ? a : (a ?? 0) + m[f]), null);
  const currency = known[0]?.currency ?? "EUR";
  const price = sum("cost") != null && sum("kwh") > 0 ? sum("cost") / sum("kwh") : null;
  if (known.length) {
    const saved = { name: "Saved", values: state.days.map((_, i) => known.reduce((a, m) => a + m.saved[i], 0)) };
    const right = price == null ? undefined : (v) => money(v * price, currency);
    charts.push(stackedBars(host, { days: state.days, groups: known, line: saved, format: kwh, right, label: "Energy" }));
  } else host.innerHTML = `<p class="empty-note">No machine has power_watts set: no energy figures.</p>`;
  const cost = (v) => (v == null ? "" : ` (${money(v, currency)})`);
  document.getElementById("energy-summary").textContent = known.length
    ? `${DAYS} days: ${kwh(sum("kwh"))}${cost(sum("cost"))} used, ${kwh(sum("saved_kwh"))}${cost(sum("saved_cost"))} saved against always on.` +
      (unset.length ? ` No power_watts for ${unset.join(", ")}.` : "")
    : "";
  document.getElementById("energy-table").innerHTML = all
    .map(
      (m) => `<tr data-name="${esc(m.name)}"><td>${esc(m.name)}${m.measured ? ' <span class="meta">measured</span>' : ""}</td>
<td>${m.on_hours.toFixed(1)} h</td><td>${kwh(m.kwh)}<span class="meta">${esc(money(m.cost, m.currency))}</span></td>
<td>${kwh(m.saved_kwh)}<span class="meta">${esc(money(m.saved_cost, m.currency))}</span></td></tr>`,
    )
    .join("");
}

function drawTop(field, id) {
  const groups = groupsOf(state.rows[field], field, state.days).slice(0, TOP);
  document.getElementById(id).innerHTML = groups.length
    ? groups
        .map(
          (g) => `<tr data-name="${esc(g.name)}"><td>${esc(g.name)}</td><td class="narrow-hide">${g.requests}</td><td>${tokens(g.prompt)}</td>
<td>${tokens(g.completion)}${g.unreported ? `<span class="meta">${g.unreported} unreported</span>` : ""}</td><td>${g.kwh == null ? "–" : g.kwh.toFixed(g.kwh < 1 ? 3 : 2)}</td></tr>`,
        )
        .join("")
    : `<tr><td colspan="5" class="empty-note">None</td></tr>`;
}

function draw() {
  for (const c of charts) c.destroy();
  charts = [];
  drawTokens();
  drawEnergy();
  drawTop("key", "top-keys");
  drawTop("user", "top-people");
  drawTop("model", "top-models");
}

const topTable = (id, title, name) => `<section class="panel" aria-labelledby="${id}-title"><h2 id="${id}-title">${title}</h2>
<table><thead><tr><th scope="col">${name}</th><th scope="col" class="narrow-hide">Requests</th><th scope="col">Tokens in</th><th scope="col">Tokens out</th><th scope="col">kWh</th></tr></thead>
<tbody id="${id}"></tbody></table></section>`;

function frame() {
  const { key, role } = view.dataset;
  const scope =
    role === "user" ? `Your key's usage only: <strong>${esc(key)}</strong> (a user key sees no other key's figures).` : "Every key's usage.";
  view.innerHTML = `<p class="scope" id="usage-scope">${scope} The last ${DAYS} days; tokens as Ollama reported them.</p>
<section class="panel wide" id="usage-tokens" aria-labelledby="tokens-title"><h2 id="tokens-title">Tokens per day</h2>
<div class="switch" role="group" aria-label="Stack by">${Object.entries(STACKS)
    .map(([k, text]) => `<button type="button" data-stack="${k}" aria-pressed="false">${text}</button>`)
    .join("")}</div><div id="tokens-chart"></div></section>
<section class="panel wide" id="usage-energy" aria-labelledby="energy-title"><h2 id="energy-title">Energy per day</h2>
<div id="energy-chart"></div><p class="summary" id="energy-summary"></p>
<table><thead><tr><th scope="col">Machine</th><th scope="col">On</th><th scope="col">Used</th><th scope="col">Saved</th></tr></thead><tbody id="energy-table"></tbody></table></section>
${topTable("top-keys", "Top keys", "Key")}${topTable("top-people", "Top people", "Person")}${topTable("top-models", "Top models", "Model")}`;
  view.querySelector(".switch").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-stack]");
    if (!b || !state) return;
    stack = b.dataset.stack;
    draw();
  });
}

/** Draws the view from fresh figures; each opening reads them again. */
export async function open() {
  view.setAttribute("aria-busy", "true");
  if (!view.firstChild) frame();
  const [data] = await Promise.all([load(), loadFiles()]);
  state = data;
  draw();
  view.setAttribute("aria-busy", "false");
}
