// How big the usage database grows in a year of a busy household: `bun bench/usage-size.ts [days]`.
// A generator drives the real UsageStore with a clock it moves hour by hour (no sleeping), so the file is exactly
// what a gateway would leave: hourly sums, power state changes and a measuring plug's readings. The household:
// six keys (one of them a shared frontend with four people behind it), eight models on two machines, busy in the
// day and quiet at night, each machine switched on and off several times a day and its plug read every 30 s while on.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../src/core/telemetry/logger.ts";
import { UsageStore } from "../src/core/usage/store.ts";
import type { UsageKind } from "../src/core/usage/types.ts";

const DAYS = Number(process.argv[2] ?? 365);
const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1);

// A small seeded generator (mulberry32): the same file every run.
let seed = 24;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const KEYS = ["open-webui", "family-chat", "home-assistant", "coding-agent", "scripts", "laptop"];
const PEOPLE = ["ana@example.org", "ben@example.org", "carla@example.org", "dan@example.org"];
const MODELS: [model: string, machine: string][] = [
  ["llama3.1:70b", "big"],
  ["qwen2.5-coder:32b", "big"],
  ["gemma3:27b", "big"],
  ["deepseek-r1:32b", "big"],
  ["llama3.1:8b", "small"],
  ["qwen2.5:7b", "small"],
  ["nomic-embed-text", "small"],
  ["llama3.2:3b", "small"],
];
const KINDS: UsageKind[] = ["chat", "chat", "chat", "generate", "embed"];

const dir = mkdtempSync(join(tmpdir(), "usage-size-"));
const path = join(dir, "usage.db");
let now = START;
const store = UsageStore.open({ path, logger: createLogger({ level: "warn" }), now: () => now, retentionDays: 400 });
let requests = 0;
for (let h = 0; h < DAYS * 24; h++) {
  now = START + h * HOUR;
  const hourOfDay = h % 24;
  const busy = hourOfDay >= 7 && hourOfDay < 23 ? 0.85 : 0.1;
  for (const machine of ["big", "small"]) {
    // On for a stretch a few times a day: a change each hour it starts or stops, readings every 30 s while on.
    if (rand() < 0.25) store.powerChanged(machine, rand() < 0.5 ? "waking" : "shutting_down", now + 60_000);
    if (rand() < 0.25) store.powerChanged(machine, rand() < 0.5 ? "on" : "off", now + 120_000);
    if (rand() < busy) for (let s = 0; s < 120; s++) store.meterReading(machine, 180 + rand() * 150, now + s * 30_000);
  }
  if (rand() >= busy) continue;
  const count = 1 + Math.floor(rand() * 40);
  for (let i = 0; i < count; i++) {
    const key = pick(KEYS);
    const [model, machine] = pick(MODELS);
    const kind = model === "nomic-embed-text" ? "embed" : pick(KINDS);
    const reported = rand() > 0.05;
    store.add({
      at: now + Math.floor(rand() * HOUR),
      key,
      user: key === "open-webui" ? pick(PEOPLE) : null,
      model,
      machine,
      kind,
      status: rand() < 0.02 ? 502 : 200,
      complete: true,
      figures: {
        promptTokens: reported ? Math.floor(rand() * 4000) : null,
        completionTokens: reported ? Math.floor(rand() * 1500) : null,
        generationS: rand() * 30,
        loadS: rand() < 0.1 ? rand() * 20 : 0,
      },
      ttfbMs: Math.floor(rand() * 3000),
      wakeWaitS: rand() < 0.05 ? rand() * 90 : 0,
      totalS: rand() * 40,
    });
    requests++;
  }
  store.flush(); // the gateway writes every second; an hour's writes upsert the same rows
}
const rows = store.hours({ from: START, to: now + HOUR }).length;
store.close();
const bytes = statSync(path).size;
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ days: DAYS, requests, hour_rows: rows, file_bytes: bytes, file_mb: Math.round((bytes / 1048576) * 10) / 10 }));
