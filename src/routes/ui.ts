import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
// The Usage view's charts: uPlot's own built files, from the npm package (no CDN), loaded by usage.js when the view opens.
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "file" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "file" };
import { mayUseDashboard } from "../core/access/access.ts";
import { SESSION_COOKIE, SESSION_TTL_S } from "../core/access/sessions.ts";
import { StoreAwayError } from "../core/replica/store.ts";
import { EVENT_TYPES } from "../core/telemetry/events.ts";
import type { AppDeps } from "../deps.ts";
import { fromOwnPage } from "../http/auth.ts";
import { createRouter, documentedAs } from "../http/router.ts";
import { clientAddress } from "../http/throttle.ts";
// Paths, not contents: Bun embeds these files in the compiled executable, and they are read only when asked for.
import appCss from "../ui/app.css" with { type: "file" };
import appJs from "../ui/app.js" with { type: "file" };
import icon from "../ui/icon.svg" with { type: "file" };
import { dashboardPage, loginPage } from "../ui/page.ts";
import usageCss from "../ui/usage.css" with { type: "file" };
import usageJs from "../ui/usage.js" with { type: "file" };
import usageChartJs from "../ui/usage-chart.js" with { type: "file" };
import usageViewJs from "../ui/usage-view.js" with { type: "file" };
import wordsJs from "../ui/words.js" with { type: "file" };

const ASSETS: Record<string, { file: string; type: string }> = {
  "app.js": { file: appJs, type: "text/javascript; charset=utf-8" },
  "words.js": { file: wordsJs, type: "text/javascript; charset=utf-8" },
  "app.css": { file: appCss, type: "text/css; charset=utf-8" },
  "usage.js": { file: usageJs, type: "text/javascript; charset=utf-8" },
  "usage-view.js": { file: usageViewJs, type: "text/javascript; charset=utf-8" },
  "usage-chart.js": { file: usageChartJs, type: "text/javascript; charset=utf-8" },
  "usage.css": { file: usageCss, type: "text/css; charset=utf-8" },
  "uPlot.iife.min.js": { file: uplotJs, type: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { file: uplotCss, type: "text/css; charset=utf-8" },
};

/** Only the gateway's own files: no inline script or style, no other origin, and never inside another site's frame. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });
const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => createRoute({ ...r, tags: ["Dashboard"], security: [] });

const page = route({
  method: "get",
  path: "/ui",
  summary: "The dashboard: a login form until the browser holds a session, then one live card per machine",
  responses: { 200: html("The page"), 503: html("Several gateways share their sessions, and their store (Redis) is unreachable") },
});

const LoginForm = z.object({ key: z.string().max(4096).optional() });
const login = route({
  method: "post",
  path: "/ui/login",
  summary: "Trades an API key for a session cookie (the key itself is never stored in the browser)",
  request: { body: { content: { "application/x-www-form-urlencoded": { schema: LoginForm } } } },
  responses: {
    303: { description: "Logged in: the session is on disk, the cookie is set and the browser goes to /ui" },
    401: html("The key is not valid: the form again, with a message"),
    403: html("The key's role (inference) may not use the dashboard, or the form was posted from another site's page"),
    429: html("Too many wrong keys from this address, or too many logins with this key or from this address, in a minute (see Retry-After)"),
    503: html("The session could not be stored, or the store several gateways share (Redis) is unreachable"),
  },
});

const logout = route({
  method: "post",
  path: "/ui/logout",
  summary: "Ends the session and goes back to the login form",
  responses: {
    303: { description: "Logged out" },
    403: html("Not sent from the dashboard's own page"),
    503: html("Several gateways share their sessions, and their store (Redis) is unreachable"),
  },
});

const asset = route({
  method: "get",
  path: "/ui/assets/{file}",
  summary: "The dashboard's script and stylesheet",
  request: { params: z.object({ file: z.string() }) },
  responses: { 200: { description: "The file" }, 404: { description: "No such file" } },
});

const favicon = route({ method: "get", path: "/favicon.ico", summary: "The gateway's icon", responses: { 200: { description: "An SVG icon" } } });

/**
 * Whether a login form post may set a cookie: another site's page must not log the victim's browser in
 * to the attacker's session (login CSRF). A browser always says where a cross-site POST comes from
 * (Sec-Fetch-Site, or at least Origin), and then it must be this gateway's own page. A post with neither
 * header is not a browser's, so not a CSRF vector: `curl -d key=… /ui/login` keeps working.
 */
function loginFromOwnPage(headers: Headers): boolean {
  const says = headers.has("sec-fetch-site") || headers.has("origin") || headers.has("referer");
  return !says || fromOwnPage(headers, false);
}

/**
 * The shared store is away (several gateways): the page says so, with Retry-After. Any other error goes on to
 * the error handler.
 */
function storeAway(c: Context, err: unknown): Response | Promise<Response> {
  if (!(err instanceof StoreAwayError)) throw err;
  const page = loginPage("The gateway cannot reach its shared state just now. Try again in a few seconds.");
  return c.html(page, 503, { ...PAGE_HEADERS, ...err.headers });
}

const overHttps = (c: Context) => c.req.header("x-forwarded-proto")?.split(",")[0]?.trim() === "https" || new URL(c.req.url).protocol === "https:";

export function uiRoutes({ ui, keys, version }: AppDeps) {
  const router = createRouter();
  router.openapi(page, async (c) => {
    let identity: string | null;
    try {
      identity = await ui.sessions.check(getCookie(c, SESSION_COOKIE));
    } catch (err) {
      return storeAway(c, err);
    }
    if (identity === null) return c.html(loginPage(), 200, PAGE_HEADERS);
    // The key's name and role (never the key): the Usage view says whose figures a `user` session sees.
    const key = keys.ring.byIdentity(identity);
    return c.html(dashboardPage(version, EVENT_TYPES, key ? { name: key.name, role: key.role } : undefined), 200, PAGE_HEADERS);
  });
  router.openapi(login, async (c) => {
    if (!loginFromOwnPage(c.req.raw.headers)) return c.html(loginPage("Log in from the dashboard's own page."), 403, PAGE_HEADERS);
    const from = clientAddress(c);
    const form = await c.req.parseBody();
    const key = keys.ring.match(typeof form.key === "string" ? form.key : undefined);
    let token: string | null;
    try {
      // As on every route (auth.ts): past the limit only a key that already worked from this address gets in.
      const retry = await ui.throttle.attempt(from, key?.identity);
      if (retry > 0)
        return c.html(loginPage(`Too many wrong keys. Try again in ${retry} s.`), 429, { ...PAGE_HEADERS, "retry-after": String(retry) });
      if (!key) return c.html(loginPage("That key is not valid."), 401, PAGE_HEADERS);
      if (!mayUseDashboard(key)) return c.html(loginPage(`The key ${key.name} may only use Ollama's API, not the dashboard.`), 403, PAGE_HEADERS);
      const wait = await ui.logins.login(key.identity, from);
      if (wait > 0) return c.html(loginPage(`Too many logins. Try again in ${wait} s.`), 429, { ...PAGE_HEADERS, "retry-after": String(wait) });
      // null: it could not be stored (the file store has logged why).
      token = await ui.sessions.open(key.identity).catch((err) => (err instanceof StoreAwayError ? Promise.reject(err) : null));
    } catch (err) {
      return storeAway(c, err);
    }
    if (token === null) return c.html(loginPage("The session could not be stored. Try again later."), 503, PAGE_HEADERS);
    setCookie(c, SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      secure: overHttps(c),
      maxAge: SESSION_TTL_S,
    });
    return documentedAs(login, c.redirect("/ui", 303));
  });
  router.openapi(logout, async (c) => {
    if (!fromOwnPage(c.req.raw.headers, false)) return c.html(loginPage("Log out from the dashboard's own page."), 403, PAGE_HEADERS);
    try {
      await ui.sessions.end(getCookie(c, SESSION_COOKIE));
    } catch (err) {
      return storeAway(c, err); // the cookie stays: the session it names is not over yet
    }
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: overHttps(c) });
    return documentedAs(logout, c.redirect("/ui", 303));
  });
  router.openapi(asset, (c) => {
    const file = c.req.valid("param").file;
    const a = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!a) return documentedAs(asset, c.json({ detail: "Not Found" }, 404));
    return documentedAs(asset, new Response(Bun.file(a.file), { headers: { "content-type": a.type, "cache-control": "no-cache" } }));
  });
  router.openapi(favicon, () =>
    documentedAs(favicon, new Response(Bun.file(icon), { headers: { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" } })),
  );
  return router;
}
