// The usage database under a real gateway process: killed with SIGKILL while it writes, started on a corrupt file,
// and on a directory it may not write to. Requests are always served; the file always opens afterwards.
import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { UsageStore } from "../../src/core/usage/store.ts";
import { simEnv } from "../../src/sim/env.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { bunCommand, childEnv, KEY, ROOT, tempDir } from "../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const auth = { authorization: `Bearer ${KEY}` };
const generate = (url: string) =>
  fetch(`${url}/api/generate`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false }),
  });

/** A gateway process in front of `sim` (on); resolves once it listens, with its URL and everything it has logged. */
async function spawnGateway(sim: SimulatedMachine, dir: string, env: Record<string, string>, prefix: string[] = []) {
  const proc = Bun.spawn([...prefix, ...bunCommand(join(ROOT, "src", "index.ts"))], {
    cwd: dir,
    env: childEnv(simEnv(sim, { API_KEYS: KEY, HOST: "127.0.0.1", PORT: "0", ...env }), dir),
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanups.push(async () => {
    proc.kill(9);
    await proc.exited;
  });
  let log = "";
  const reader = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) log += decoder.decode(chunk);
  })();
  const deadline = Date.now() + 20_000;
  while (!/ollama-gate listening/.test(log)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`the gateway did not start:\n${log}`);
    await Bun.sleep(20); // the log is the only sign it listens
  }
  const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log)![1]!;
  return { proc, url, log: () => log, reader };
}

async function onMachine() {
  const sim = await new SimulatedMachine({ bootDelayMs: 50 }).start({ on: true });
  cleanups.push(() => sim.stop());
  return sim;
}

const requestsIn = (path: string): number => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT coalesce(sum(requests), 0) AS n FROM usage_hours").get() as { n: number }).n;
  } catch {
    return 0; // not created yet
  } finally {
    db.close();
  }
};

test("kill -9 while requests are counted: the file opens afterwards, whole, and lost at most about the last second", async () => {
  const sim = await onMachine();
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const db = join(dir, "usage.db");
  const gw = await spawnGateway(sim, dir, { STATUS_FILE: join(dir, "status.json") });
  const answered: number[] = []; // when each request's answer was complete, by this clock
  let going = true;
  const client = async () => {
    while (going) {
      const res = await generate(gw.url).catch(() => null);
      if (!res) return;
      const body = await res.text().catch(() => null);
      if (res.status === 200 && body !== null) answered.push(Date.now());
    }
  };
  const clients = [client(), client(), client()];
  const deadline = Date.now() + 30_000;
  while (requestsIn(db) < 30 && Date.now() < deadline) await Bun.sleep(50); // no event: the file is polled
  expect(requestsIn(db)).toBeGreaterThanOrEqual(30);
  // Writes keep coming for a few seconds more (the answers of their first seconds are the ones checked); the kill
  // falls between two writes, somewhere in a second.
  await Bun.sleep(4500);
  const killedAt = Date.now();
  gw.proc.kill(9);
  await gw.proc.exited;
  going = false;
  await Promise.all(clients);

  const logger = memoryLogger();
  const errors: string[] = [];
  const store = UsageStore.open({ path: db, logger, onError: (w) => errors.push(w) });
  expect(errors).toEqual([]);
  expect(store.usable).toBe(true);
  const kept = store.hours({ from: 0, to: Date.now() + 3_600_000 }).reduce((n, r) => n + r.requests, 0);
  store.close();
  const check = new Database(db, { readonly: true });
  expect((check.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
  check.close();
  // Every answer complete well before the kill is in the file (one second of writes, plus slack for a busy machine);
  // nothing is counted that was not answered (a record is made as an answer ends, just before the client has it).
  const before = answered.filter((t) => t < killedAt - 3000).length;
  expect(before).toBeGreaterThan(0);
  expect(kept).toBeGreaterThanOrEqual(before);
  expect(kept).toBeLessThanOrEqual(answered.length + 3);
}, 60_000);

test("a corrupt usage file: requests are served, the error is logged and counted, and a new file counts them", async () => {
  const sim = await onMachine();
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const db = join(dir, "usage.db");
  writeFileSync(db, "not a database at all ".repeat(1000));
  const gw = await spawnGateway(sim, dir, { STATUS_FILE: join(dir, "status.json") });
  for (let i = 0; i < 3; i++) expect((await generate(gw.url)).status).toBe(200);
  const metrics = await (await fetch(`${gw.url}/metrics`, { headers: auth })).text();
  expect(metrics).toContain('ollama_gate_usage_store_errors_total{what="corrupt"} 1');
  expect(gw.log()).toContain("it was moved aside and a new one started");
  gw.proc.kill("SIGTERM"); // the last second is written at SIGTERM
  await gw.proc.exited;
  expect(requestsIn(db)).toBe(3);
}, 60_000);

test("a usage file in a directory the gateway may not write: requests are served, the error is logged and counted", async () => {
  const sim = await onMachine();
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const writable = join(dir, "status");
  const locked = join(dir, "locked");
  mkdirSync(writable);
  mkdirSync(locked);
  chmodSync(dir, 0o755);
  chmodSync(locked, 0o555);
  // Root writes anywhere: the gateway is then run as nobody, who may write only its status directory.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(writable, 65534, 65534);
  const prefix = asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const gw = await spawnGateway(sim, writable, { STATUS_FILE: join(writable, "status.json"), USAGE_DB: join(locked, "usage.db") }, prefix);
  for (let i = 0; i < 3; i++) expect((await generate(gw.url)).status).toBe(200);
  const metrics = await (await fetch(`${gw.url}/metrics`, { headers: auth })).text();
  expect(metrics).toContain('ollama_gate_usage_store_errors_total{what="open"} 1');
  expect(gw.log()).toContain("usage: the database could not be opened");
}, 60_000);
