// The Grafana dashboard and the Prometheus alert rules that ship in docs/ read the metrics a real gateway
// exposes: a gateway process in front of two simulated machines, with usage on, power_watts, a queue, a key
// with a limit and a webhook that refuses, so the labelled series exist. Every metric the dashboard's and the
// rules' expressions name must have its `# TYPE` line in /metrics, and every label they filter or group by must
// be on its series: a renamed metric or label breaks the build, not the user's dashboard. Then promtool checks
// the rules and runs their unit tests (docs/prometheus/alerts.test.yaml), so they are known to fire.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeModel } from "../../src/sim/fake-ollama.ts";
import { simMachinesFile } from "../../src/sim/fleet.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { bunCommand, childEnv, KEY, ROOT, SSH_PASS, SUDO_PASS, tempDir, until } from "../helpers.ts";
import { dashboardExprs, familyOf, metricNames, missing, parseExposition } from "../metric-names.ts";

const DASHBOARD = join(ROOT, "docs", "grafana", "ollama-gate.json");
const ALERTS = join(ROOT, "docs", "prometheus", "alerts.yaml");
const ALERT_TESTS = join(ROOT, "docs", "prometheus", "alerts.test.yaml");
const RATED = "rated-key-0123456789";

function alertExprs(): { alert: string; expr: string }[] {
  const rules = Bun.YAML.parse(readFileSync(ALERTS, "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules);
}

// ---- A gateway process in front of two simulated machines.

const dir = tempDir("ollama-gate-grafana-");
const sims: SimulatedMachine[] = [];
let proc: ReturnType<typeof Bun.spawn> | undefined;
let receiver: ReturnType<typeof Bun.serve> | undefined;
let url = "";
let stderr = "";

const call = (path: string, key: string | null, body?: object) =>
  fetch(url + path, {
    method: body ? "POST" : "GET",
    headers: { ...(key ? { "x-api-key": key } : {}), "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
const scrape = async () => (await call("/metrics", KEY)).text();

beforeAll(async () => {
  const model = (name: string) => fakeModel(name, 4_000_000_000, "llama", "7B");
  const base = { sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 };
  const big = await new SimulatedMachine({ ...base, ollama: { chunkDelayMs: 20, models: [model("llama3.1:70b")] } }).start({ on: true });
  const small = await new SimulatedMachine({ ...base, mac: "52:54:00:00:00:02", ollama: { chunkDelayMs: 2, models: [model("qwen2.5:7b")] } }).start();
  sims.push(big, small);
  // A receiver that refuses every event at once (a 4xx is not retried): the webhook failures get their labels.
  receiver = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("no", { status: 400 }) });
  const machines = simMachinesFile([
    { name: "big", sim: big, models: ["llama3.1:70b"] },
    { name: "small", sim: small, models: ["qwen2.5:7b"] },
  ]).machines.map((m) => ({ ...m, power_watts: { on: 200, off: 4 }, ...(m.name === "big" ? { max_concurrent: 1 } : {}) }));
  writeFileSync(join(dir.dir, "machines.json"), JSON.stringify({ machines }));
  writeFileSync(
    join(dir.dir, "keys.yaml"),
    `keys:\n  - { name: ops, key: ${KEY}, role: admin }\n  - { name: rated, key: ${RATED}, role: inference, rate_per_min: 2 }\n`,
  );
  const env = childEnv(
    {
      MACHINES_FILE: join(dir.dir, "machines.json"),
      KEYS_FILE: join(dir.dir, "keys.yaml"),
      STATUS_FILE: join(dir.dir, "status.json"),
      SIM_SSH_PASS: SSH_PASS,
      SIM_SUDO_PASS: SUDO_PASS,
      WEBHOOK_URLS: `http://127.0.0.1:${receiver.port}/hook`,
      WEBHOOK_EVENTS: "all",
      HOST: "127.0.0.1",
      PORT: "0",
    },
    dir.dir,
  );
  proc = Bun.spawn(bunCommand(join(ROOT, "src", "index.ts")), { cwd: dir.dir, env, stdout: "ignore", stderr: "pipe" });
  // Read to the end, so the gateway never blocks on a full pipe; the URL is in its "listening" line.
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc!.stderr as ReadableStream<Uint8Array>) stderr += decoder.decode(chunk);
  })().catch(() => {});
  await until(() => /"url":"http:\/\/127\.0\.0\.1:\d+"/.test(stderr) || proc!.exitCode !== null, 15_000);
  url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr)?.[1] ?? "";
  if (!url) throw new Error(`the gateway ended before listening:\n${stderr}`);

  // Traffic that makes the labelled series: generations on both machines (small is woken for its model), three
  // at once on big's one slot (a queue), a key past its rate, a request without a key, a forced shutdown.
  const generate = (model: string, key = KEY) => call("/api/generate", key, { model, prompt: "hi", stream: true });
  const drain = async (res: Response) => (await res.arrayBuffer(), res.status);
  expect(await Promise.all([0, 1, 2].map(async () => drain(await generate("llama3.1:70b"))))).toEqual([200, 200, 200]);
  expect(await drain(await generate("qwen2.5:7b"))).toBe(200);
  const rated = [];
  for (let i = 0; i < 3; i++) rated.push(await drain(await generate("llama3.1:70b", RATED)));
  expect(rated).toEqual([200, 200, 429]);
  expect((await call("/leases", null)).status).toBe(401);
  expect((await call("/machines/small/shutdown", KEY, {})).status).toBe(200);
  // Usage records, the shutdown and the webhook's refusals are counted as each ends: wait until they show.
  const wanted = [
    /^ollama_gate_tokens_total\{[^}]*key="rated"/m,
    /^ollama_gate_ttfb_seconds_count\{machine="small"\} [1-9]/m,
    /^ollama_gate_wake_to_ready_seconds_count\{machine="small"\} 1$/m,
    /^ollama_gate_queue_wait_seconds_count\{machine="big"\} [1-9]/m,
    /^ollama_gate_shutdowns_total\{machine="small",reason="forced"\} 1$/m,
    /^ollama_gate_webhook_failures_total\{kind="json",reason="status",target="webhook 1"\} [1-9]/m,
    /^ollama_gate_limited_total\{key="rated",limit="rate_per_min"\} 1$/m,
    /^ollama_gate_energy_kwh_total\{machine="big"\} /m,
    /^ollama_gate_idle_shutdown_on\{machine="small"\} [01]$/m,
  ];
  let text = "";
  await until(async () => ((text = await scrape()), wanted.every((w) => w.test(text))), 15_000).catch(() => {
    throw new Error(`/metrics lacks ${wanted.filter((w) => !w.test(text)).join(", ")}:\n${text}`);
  });
}, 60_000);

afterAll(async () => {
  if (proc) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
  receiver?.stop(true);
  for (const s of sims) await s.stop();
  dir.cleanup();
});

describe("docs/grafana/ollama-gate.json", () => {
  test("every metric and label the dashboard queries is in a running gateway's /metrics", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8"));
    const exprs = dashboardExprs(dashboard.panels).concat(dashboardExprs(dashboard.templating));
    const scraped = parseExposition(await scrape());
    const named = new Set(exprs.flatMap(metricNames).map((n) => familyOf(n, scraped.types)));
    // The loose reading found what the dashboard is about (a reading that finds nothing would pass everything).
    for (const m of [
      "ollama_gate_power_state",
      "ollama_gate_requests_total",
      "ollama_gate_ttfb_seconds",
      "ollama_gate_tokens_total",
      "ollama_gate_energy_kwh_total",
      "ollama_gate_queue_wait_seconds",
      "ollama_gate_limited_total",
      "process_resident_memory_bytes",
    ]) {
      expect(named).toContain(m);
    }
    expect(exprs.flatMap((e) => missing(e, scraped).map((p) => `${p}: ${e}`))).toEqual([]);
  });

  test("is an importable dashboard: a Prometheus datasource input and variable, a machine variable from label_values", () => {
    const d = JSON.parse(readFileSync(DASHBOARD, "utf8"));
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(d.id).toBeNull();
    expect(d.__inputs).toContainEqual(expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }));
    const vars = Object.fromEntries(d.templating.list.map((v: { name: string }) => [v.name, v]));
    expect(vars.datasource).toMatchObject({ type: "datasource", query: "prometheus", current: { value: "${DS_PROMETHEUS}" } });
    expect(vars.machine).toMatchObject({
      type: "query",
      definition: "label_values(ollama_gate_power_state, machine)",
      includeAll: true,
      allValue: ".*",
    });
    const panels = d.panels.filter((p: { type: string }) => p.type !== "row");
    for (const p of panels) {
      expect(p.datasource).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(p.targets.length).toBeGreaterThan(0);
    }
    expect(new Set(d.panels.map((p: { id: number }) => p.id)).size).toBe(d.panels.length);
  });
});

describe("docs/prometheus/alerts.yaml", () => {
  test("every metric and label the rules query is in a running gateway's /metrics", async () => {
    const scraped = parseExposition(await scrape());
    const rules = alertExprs();
    expect(rules.map((r) => r.alert).sort()).toEqual([
      "OllamaGateIdleWithoutIdleShutdown",
      "OllamaGateMemoryNearLimit",
      "OllamaGateWakeFailed",
      "OllamaGateWakeTimedOut",
      "OllamaGateWebhookFailures",
    ]);
    expect(rules.flatMap((r) => missing(r.expr, scraped).map((p) => `${r.alert}: ${p}`))).toEqual([]);
  });

  // Debian's prometheus package has promtool; .ci/run installs it.
  const PROMTOOL = Bun.which("promtool") ? undefined : "promtool is missing (apt-get install prometheus)";
  if (PROMTOOL) console.warn(`tests/e2e/grafana.test.ts: skipping the promtool checks: ${PROMTOOL}`);
  const promtool = (...args: string[]) => {
    const r = Bun.spawnSync(["promtool", ...args], {
      cwd: join(ROOT, "docs", "prometheus"),
      env: childEnv({}, dir.dir),
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
  };

  test.skipIf(!!PROMTOOL)("promtool check rules passes", () => {
    const r = promtool("check", "rules", ALERTS);
    expect(r.out).toContain("SUCCESS: 5 rules found");
    expect(r.code).toBe(0);
  });

  test.skipIf(!!PROMTOOL)("promtool test rules: each rule fires on synthetic series, and not on their look-alikes", () => {
    const r = promtool("test", "rules", ALERT_TESTS);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });
});
