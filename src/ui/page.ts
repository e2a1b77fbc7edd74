import { html } from "hono/html";

/** Where the page's own files are served from: the gateway itself, so it works on a LAN without internet. */
export const UI_ASSETS = "/ui/assets";

const head = (title: string) => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="${UI_ASSETS}/app.css">
</head>`;

/** The login form; `error` is shown above it (a wrong key, too many tries). Works without JavaScript. */
export function loginPage(error?: string) {
  return html`${head("Log in · ollama-gate")}
<body class="login">
<main>
<h1>ollama-gate</h1>
<form id="login" method="post" action="/ui/login">
${error ? html`<p id="login-error" role="alert">${error}</p>` : ""}
<label for="key">API key</label>
<input type="password" name="key" id="key" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
</main>
</body>
</html>`;
}

/** Who holds the session, for the Usage view to say whose figures it shows (a name, never the key). */
export interface Viewer {
  name: string;
  role: string;
}

/**
 * The dashboard's frame; the cards are drawn by app.js from /machines and kept current from /events. The Usage
 * view (#usage) is drawn by usage-view.js (imported by usage.js) from /usage and /energy when it is first opened.
 */
export function dashboardPage(version: string, eventTypes: readonly string[], viewer?: Viewer) {
  return html`${head("ollama-gate")}
<body>
<header>
<h1>ollama-gate</h1>
<span class="version">v${version}</span>
<nav aria-label="Views"><a href="#machines" id="nav-machines" aria-current="page">Machines</a><a href="#usage" id="nav-usage">Usage</a></nav>
<span id="live" class="live" data-live="connecting">connecting…</span>
<form method="post" action="/ui/logout" id="logout-form"><button type="submit" id="logout">Log out</button></form>
</header>
<p id="announce" class="visually-hidden" aria-live="polite"></p>
<p id="notice" role="alert" hidden></p>
<main id="machines" aria-busy="true" data-event-types="${eventTypes.join(",")}"><p class="empty">Loading…</p></main>
<main id="usage" hidden aria-busy="true" data-key="${viewer?.name ?? ""}" data-role="${viewer?.role ?? ""}"></main>
<dialog id="confirm-shutdown" aria-labelledby="confirm-title">
<form method="dialog">
<h2 id="confirm-title">Shut down?</h2>
<p id="confirm-text"></p>
<div class="actions"><button value="cancel" type="submit">Cancel</button><button value="confirm" type="submit" class="danger">Shut down</button></div>
</form>
</dialog>
<script type="module" src="${UI_ASSETS}/app.js"></script>
<script type="module" src="${UI_ASSETS}/usage.js"></script>
</body>
</html>`;
}
