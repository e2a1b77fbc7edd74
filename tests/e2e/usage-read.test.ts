// GET /usage over real sockets: the store's hourly sums read back as JSON and CSV, group_by refused before
// anything is read, each role's view (admin all, user its own key, inference 403), the energy share from the
// machine's state intervals, and a proxied request that appears in it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NO_FIGURES, type UsageRecord } from "../../src/core/usage/types.ts";
import { type Harness, json, startHarness, tempDir } from "../helpers.ts";

const ADMIN = "usage-admin-key-0123456789";
const USER = "usage-user-key-0123456789";
const CHAT = "usage-chat-key-0123456789";
const LIMITED = "usage-limited-key-0123456789";
const KEYS = `keys:
  - { name: ops, key: ${ADMIN}, role: admin }
  - { name: family, key: ${USER}, role: user }
  - { name: family-chat, key: ${CHAT}, role: inference }
  - { name: ops-here, key: ${LIMITED}, role: admin, machines: [default] }
`;

const H = 3_600_000;
// Two hours on a past day, far from now: the monitor's own state changes (now) fall outside the period read.
const T0 = Date.UTC(2026, 0, 10, 10);
const PERIOD = "from=2026-01-10T00:00Z&to=2026-01-11T00:00Z";

let h: Harness;
let cleanup: () => void;
let machine: string;

const as = (key: string, path: string, init: RequestInit = {}) =>
  fetch(h.url + path, { ...init, headers: { "x-api-key": key, "content-type": "application/json", ...(init.headers ?? {}) } });

function record(o: Partial<UsageRecord> & { prompt?: number | null; completion?: number | null; gen?: number }): UsageRecord {
  const { prompt = 10, completion = 100, gen = 1, ...rest } = o;
  return {
    at: T0,
    key: "ops",
    user: null,
    model: "llama3.2:3b",
    machine,
    kind: "chat",
    status: 200,
    complete: true,
    figures: { ...NO_FIGURES, promptTokens: prompt, completionTokens: completion, generationS: gen, loadS: 0 },
    ttfbMs: 400,
    wakeWaitS: 0,
    totalS: gen,
    ...rest,
  };
}

beforeAll(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  const file = join(dir.dir, "keys.yaml");
  writeFileSync(file, KEYS);
  h = await startHarness({ on: true, env: { KEYS_FILE: file, POWER_WATTS_ON: "200", POWER_WATTS_OFF: "4" } });
  machine = h.deps.fleet.units[0]!.name;
  const store = h.deps.usageStore;
  // The machine was on for the half hour from 10:00 and off after: 200 W × 1800 s = 0.1 kWh on, in that hour; a
  // row is charged the busy part of it, on-energy × its generation seconds ÷ the seconds on (b4bbb22).
  store.powerChanged(machine, "on", T0);
  store.powerChanged(machine, "off", T0 + H / 2);
  store.add(record({ key: "ops", completion: 300, gen: 3 }));
  store.add(record({ key: "family", user: "ana@example.org", completion: 50, gen: 1 }));
  store.add(
    record({ key: "family", user: '=HYPERLINK("x"), "Ana"', completion: 20, gen: 1, at: T0 + H, ttfbMs: null, status: 502, complete: false }),
  );
  store.add(record({ key: "family", model: "other", kind: "embed", prompt: 7, completion: null, gen: 0, at: T0 + H }));
  // Another day, on this machine and on one the limited key may not use.
  store.add(record({ key: "ops", at: T0 + 2 * 24 * H }));
  store.add(record({ key: "ops", machine: "elsewhere", at: T0 + 2 * 24 * H }));
});

afterAll(async () => {
  await h?.close();
  cleanup?.();
});

describe("GET /usage", () => {
  test("JSON: rows grouped as asked, sorted by completion tokens, with totals and each row's energy share", async () => {
    const res = await as(ADMIN, `/usage?${PERIOD}&group_by=key`);
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body).toMatchObject({ from: "2026-01-10T00:00:00.000Z", to: "2026-01-11T00:00:00.000Z", group_by: ["key"] });
    expect(body.rows).toEqual([
      {
        key: "ops",
        requests: 1,
        errors: 0,
        prompt_tokens: 10,
        completion_tokens: 300,
        unreported: 0,
        generation_s: 3,
        load_s: 0,
        ttfb_ms_p50: 400, // the one request in (300, 500]: halfway through it is the median
        wake_wait_s: 0,
        energy_kwh: 0.000167, // the busy part of 0.1 kWh on: 3 of the 1,800 seconds on were this key generating
      },
      {
        key: "family",
        requests: 3,
        errors: 1,
        prompt_tokens: 27,
        completion_tokens: 70,
        unreported: 1,
        generation_s: 2,
        load_s: 0,
        ttfb_ms_p50: 400,
        wake_wait_s: 0,
        energy_kwh: 0.000056, // 1 of the 1,800 seconds on; none in the next hour (the machine was off)
      },
    ]);
    expect(body.totals).toMatchObject({ requests: 4, errors: 1, prompt_tokens: 37, completion_tokens: 370, unreported: 1, energy_kwh: 0.000222 }); // 4 busy seconds of 1,800 on
  });

  test("the default grouping is key,model; day and hour are read in TZ; the default period is the last 30 days", async () => {
    const byModel = await json(as(ADMIN, `/usage?${PERIOD}`));
    expect(byModel.group_by).toEqual(["key", "model"]);
    expect(byModel.rows.map((r: any) => [r.key, r.model, r.requests])).toEqual([
      ["ops", "llama3.2:3b", 1],
      ["family", "llama3.2:3b", 2],
      ["family", "other", 1],
    ]);
    const byHour = await json(as(ADMIN, `/usage?${PERIOD}&group_by=hour`));
    expect(byHour.tz).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(byHour.rows.map((r: any) => Object.keys(r)[0])).toEqual(["hour", "hour"]);
    expect(byHour.rows).toHaveLength(2);
    // 2026-01-10 is long past: the last 30 days (the default) hold none of it.
    const recent = await json(as(ADMIN, "/usage"));
    expect(Date.parse(recent.to) - Date.parse(recent.from)).toBe(30 * 86_400_000);
    expect(recent.rows).toEqual([]);
  });

  test("CSV: a header row, then the same columns; text that could be read as a formula is kept as text", async () => {
    const res = await as(ADMIN, `/usage?${PERIOD}&group_by=user,kind&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/csv");
    const lines = (await res.text()).split("\r\n");
    expect(lines[0]).toBe(
      "user,kind,requests,errors,prompt_tokens,completion_tokens,unreported,generation_s,load_s,ttfb_ms_p50,wake_wait_s,energy_kwh",
    );
    expect(lines.slice(1)).toEqual([
      ",chat,1,0,10,300,0,3,0,400,0,0.000167",
      "ana@example.org,chat,1,0,10,50,0,1,0,400,0,0.000056",
      `"'=HYPERLINK(""x""), ""Ana""",chat,1,1,10,20,0,1,0,,0,0`,
      ",embed,1,0,7,0,1,0,0,400,0,0",
      "",
    ]);
  });

  test("group_by: an unknown field or both day and hour is a 400 with a detail, before anything is read", async () => {
    for (const [q, says] of [
      ["group_by=key,colour", 'unknown field "colour"'],
      ["group_by=day,hour", "at most one of day and hour"],
      ["group_by=model,secret-key-material&from=nonsense", 'unknown field "secret-key-material"'],
    ] as const) {
      const res = await as(ADMIN, `/usage?${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).detail).toContain(says);
    }
    for (const q of ["from=yesterday", "to=2026-02-30", "from=2026-01-11&to=2026-01-10", "format=xml"]) {
      const res = await as(ADMIN, `/usage?${q}`);
      expect(res.status).toBe(400);
      expect(typeof ((await res.json()) as any).detail).toBe("string");
    }
  });

  test("roles: a user key sees only its own key's rows (and is charged only its share); an inference key gets 403", async () => {
    const own = await json(as(USER, `/usage?${PERIOD}&group_by=key,user`));
    expect(own.rows.map((r: any) => [r.key, r.user, r.requests])).toEqual([
      ["family", "ana@example.org", 1],
      ["family", '=HYPERLINK("x"), "Ana"', 1],
      ["family", null, 1],
    ]);
    expect(own.totals).toMatchObject({ requests: 3, completion_tokens: 70, energy_kwh: 0.000056 });
    const csv = await (await as(USER, `/usage?${PERIOD}&group_by=key&format=csv`)).text();
    expect(csv).not.toContain("ops");
    const refused = await as(CHAT, `/usage?${PERIOD}`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).detail).toContain("inference");
    expect((await fetch(`${h.url}/usage`)).status).toBe(401);
  });

  test("a key limited to some machines sees only their rows", async () => {
    const period = "from=2026-01-12&to=2026-01-13T12:00Z&group_by=machine";
    expect((await json(as(ADMIN, `/usage?${period}`))).rows.map((r: any) => r.machine).sort()).toEqual(["default", "elsewhere"]);
    const limited = await as(LIMITED, `/usage?${period}`);
    expect(limited.status).toBe(200);
    expect(((await limited.json()) as any).rows.map((r: any) => r.machine)).toEqual(["default"]);
  });

  test("documented in /openapi.json: its query, its JSON and CSV answers, 400 and 403", async () => {
    const op = (await json(fetch(`${h.url}/openapi.json`))).paths["/usage"].get;
    expect(op.parameters.map((p: any) => p.name).sort()).toEqual(["format", "from", "group_by", "to"]);
    expect(Object.keys(op.responses["200"].content).sort()).toEqual(["application/json", "text/csv"]);
    for (const code of ["400", "401", "403"]) expect(op.responses[code]).toBeDefined();
  });

  test("a proxied chat through the gateway appears in /usage with the figures Ollama reported", async () => {
    const before = Date.now();
    const res = await as(ADMIN, "/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: false }),
    });
    expect(res.status).toBe(200);
    const answer: any = await res.json();
    const from = new Date(before - (before % H)).toISOString();
    const q = `/usage?from=${from}&group_by=key,model,kind`;
    // The record is left once the answer has ended; poll with a deadline (no event says it was added).
    let row: any;
    for (const deadline = Date.now() + 5000; !row && Date.now() < deadline; await Bun.sleep(20)) {
      row = (await json(as(ADMIN, q))).rows.find((r: any) => r.key === "ops");
    }
    expect(row).toMatchObject({
      model: "llama3.2:3b",
      kind: "chat",
      requests: 1,
      errors: 0,
      prompt_tokens: answer.prompt_eval_count,
      completion_tokens: answer.eval_count,
      unreported: 0,
    });
    expect(row.ttfb_ms_p50).toBeGreaterThan(0);
  });
});
