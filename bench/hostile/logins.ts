// The login flood: a few loops posting the dashboard's login form with a valid `user` key, as fast as the
// gateway answers. Each accepted login opens a session that is written to disk; the flood must neither
// grow memory nor log anybody else out.
import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { exchange, Tally } from "./measure.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

const login = (ctx: Ctx, key: string) =>
  exchange(ctx.url + "/ui/login", { method: "POST", body: new URLSearchParams({ key }), redirect: "manual" }, 10_000);

/**
 * A scenario before this one (the fuzz) may have spent this address's allowance of wrong keys: every key
 * is refused with 429 until its minute is over. Waits for that, so the flood meets the login form itself.
 */
async function throttleOver(ctx: Ctx, signal: AbortSignal): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < 65_000 && !signal.aborted) {
    const a = await exchange(ctx.url + "/leases", { headers: { "X-API-Key": ctx.key } }, 5_000);
    if (a.status !== 429) break;
    await Bun.sleep(1000);
  }
  return Math.round((Date.now() - t0) / 1000);
}

export async function loginFlood(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const waited = await throttleOver(ctx, signal);
  // The admin logs in first: the flood must not end this session.
  const admin = await login(ctx, ctx.key);
  const cookie = admin.headers?.get("set-cookie")?.split(";")[0] ?? "";
  const tally = new Tally();
  const until = Date.now() + st.loginS * 1000;
  const loop = async () => {
    while (Date.now() < until && !signal.aborted) tally.add((await login(ctx, ctx.userKey)).label);
  };
  await Promise.all(Array.from({ length: st.loginLoops }, loop));
  const after = await exchange(ctx.url + "/machines", { headers: { cookie } }, 10_000);
  const file = join(dirname(ctx.statusFile), "sessions.json");
  const size = (() => {
    try {
      return statSync(file).size;
    } catch {
      return null;
    }
  })();
  const notes = [
    `${st.loginLoops} loops of POST /ui/login with a user key for ${st.loginS} s; ${tally.counts["303"] ?? 0} logins accepted`,
    `the admin's session, opened before the flood: ${admin.status === 303 && after.status === 200 ? "still open" : `lost (login ${admin.label}, then ${after.label})`}`,
    `sessions file after: ${size === null ? "none" : `${Math.round(size / 1024)} KB`}`,
  ];
  if (waited > 1) notes.push(`waited ${waited} s first for the wrong-key throttle a scenario before left`);
  return { requests: tally.total, statuses: tally, notes, figures: { loginsAccepted: tally.counts["303"] ?? 0, sessionsFileBytes: size } };
}
