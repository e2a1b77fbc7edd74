// What Home Assistant over MQTT costs the gateway's memory: `bun run bench:mqtt`. One fake Ollama, two gateways
// in front of it, the same but for MQTT_URL (unset; a Debian mosquitto on loopback), both idle first, then through
// a flood: MQTT_BENCH_MESSAGES command messages from whoever may publish (junk topics, payloads near the 16 KB
// packet limit and a few over it, and presses of every button), while an HTTP client takes and gives back MQTT_BENCH_MESSAGES ÷ 20 leases on each gateway, so
// that every state is published. It prints each gateway's resident size idle and at its peak (VmHWM).
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { num } from "./lib/env.ts";
import { oneMachine, startGateway, startUpstream, waitAllOn } from "./lib/gateway.ts";
import { cleanupOnExit, freePort, start, stopAll, tempDir, waitForPort } from "./lib/launch.ts";
import { rss, statusKB } from "./lib/proc.ts";

const MOSQUITTO = "/usr/sbin/mosquitto";
const MESSAGES = num("MQTT_BENCH_MESSAGES", 20_000, 1);
const KEY = "bench-key-0123456789abcdef";

if (!existsSync(MOSQUITTO)) {
  console.log(`bench:mqtt needs ${MOSQUITTO} (apt-get install mosquitto)`);
  process.exit(0);
}
cleanupOnExit();
try {
  const dir = tempDir("og-bench-mqtt-");
  const port = freePort();
  writeFileSync(join(dir, "mosquitto.conf"), `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
  const broker_ = await start("mosquitto", [MOSQUITTO, "-c", join(dir, "mosquitto.conf")], {
    cwd: dir,
    env: {},
    logFile: join(dir, "mosquitto.log"),
  });
  await waitForPort(port, broker_.child);
  const broker = `mqtt://127.0.0.1:${port}`;
  const upstream = await startUpstream("ollama", dir);
  const gateway = (name: string, mqtt: Record<string, string>) =>
    startGateway({ name, dir, env: { ...oneMachine(upstream.port, join(dir, name)), API_KEYS: KEY, ...mqtt } });
  const off = await gateway("without", {});
  const on = await gateway("with", { MQTT_URL: broker });
  await Promise.all([waitAllOn(off.url, KEY), waitAllOn(on.url, KEY)]);
  const mqtt = await import("mqtt");
  const ha = await mqtt.connectAsync(broker, { protocolVersion: 5 });
  await ha.subscribeAsync("ollama-gate/#");
  await new Promise<void>((resolve) => ha.on("message", (t, p) => t === "ollama-gate/status" && String(p) === "online" && resolve()));
  await Bun.sleep(2000); // settled: the first probes, the discovery, the first states
  const idle = { without: rss(off.child.pid).vmRssMB, with: rss(on.child.pid).vmRssMB };

  const big = "x".repeat(15_000);
  const huge = "x".repeat(64_000); // over the limit: the broker must not send it
  const topics = ["wake", "release", "keep_on", "shutdown"].map((c) => `ollama-gate/default/${c}/set`);
  const http = async (url: string) => {
    for (let i = 0; i < MESSAGES / 20; i++) {
      const lease = (await (await fetch(`${url}/arrancar`, { method: "POST", headers: { "X-API-Key": KEY } })).json()) as { lease_id?: string };
      await fetch(`${url}/apagar`, {
        method: "POST",
        headers: { "X-API-Key": KEY, "content-type": "application/json" },
        body: JSON.stringify({ lease_id: lease.lease_id }),
      });
    }
  };
  const flood = async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const which = i % 10;
      if (which < 4) ha.publish(topics[which]!, which === 2 ? (i % 20 < 10 ? "ON" : "OFF") : "PRESS");
      else if (which < 8) ha.publish(`ollama-gate/m${i}/x${i}/set`, big);
      else ha.publish(which === 8 ? `ollama-gate/junk/${i}` : "ollama-gate/default/wake/set", which === 8 ? big : huge);
      if (i % 200 === 0) await Bun.sleep(1); // lets the socket drain: the broker, not this client, is what is measured against
    }
  };
  await Promise.all([flood(), http(off.url), http(on.url)]);
  await Bun.sleep(2000);
  const peak = { without: (statusKB(off.child.pid, "VmHWM") ?? Number.NaN) / 1024, with: (statusKB(on.child.pid, "VmHWM") ?? Number.NaN) / 1024 };
  await ha.endAsync();
  console.log(`\n${MESSAGES} MQTT messages, ${MESSAGES / 20} leases taken and given back over HTTP on each gateway\n`);
  console.log("| MQTT_URL | idle RSS (MB) | peak RSS under the flood (MB) |\n| --- | --- | --- |");
  console.log(`| unset | ${idle.without.toFixed(1)} | ${peak.without.toFixed(1)} |`);
  console.log(`| a mosquitto on loopback | ${idle.with.toFixed(1)} | ${peak.with.toFixed(1)} |`);
} finally {
  await stopAll();
}
