import { expect, test } from "bun:test";
import { join } from "node:path";
import { bunCommand, childEnv, ROOT, tempDir } from "../helpers.ts";

interface MachineRow {
  name: string;
  power_state: string;
  models: string[];
  power_on: string;
  power_off: string;
}

test("the demo starts two simulated machines behind one gateway; a chat wakes only the machine with its model", async () => {
  const { dir, cleanup } = tempDir();
  const proc = Bun.spawn(bunCommand(join(ROOT, "src", "sim", "demo.ts")), {
    cwd: dir,
    env: childEnv({ PORT: "0", DEMO_BOOT_DELAY_MS: "50" }, dir),
    stdout: "pipe",
    stderr: "ignore",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  const readUntil = async (re: RegExp) => {
    for (;;) {
      const m = re.exec(out);
      if (m) return m;
      const { value, done } = await reader.read();
      if (done) throw new Error(`demo output ended before ${re}:\n${out}`);
      out += decoder.decode(value);
    }
  };
  try {
    const [, url] = (await readUntil(/gateway at (http:\/\/127\.0\.0\.1:\d+)/))!;
    const [, key] = (await readUntil(/API key:\s+(\S+)/))!;
    await readUntil(/Press Ctrl\+C/);
    expect(out).toMatch(/big\s+llama3\.1:70b\s+woken by a magic packet/);
    expect(out).toMatch(/small\s+qwen2\.5:7b\s+powered by a simulated smart plug/);
    expect(out).toContain(`${url}/machines/small/shutdown`);

    const headers = { "X-API-Key": key!, "Content-Type": "application/json" };
    const machines = async () => ((await (await fetch(`${url}/machines`, { headers })).json()) as { machines: MachineRow[] }).machines;
    expect((await machines()).map(({ name, models, power_on, power_off }) => ({ name, models, power_on, power_off }))).toEqual([
      { name: "big", models: ["llama3.1:70b"], power_on: "wol", power_off: "ssh" },
      { name: "small", models: ["qwen2.5:7b"], power_on: "http", power_off: "http" },
    ]);

    const body = JSON.stringify({ model: "qwen2.5:7b", messages: [{ role: "user", content: "hi" }], stream: false });
    const res = await fetch(`${url}/api/chat`, { method: "POST", headers, body });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: string }).model).toBe("qwen2.5:7b");
    await readUntil(/\[sim small\] on/);
    expect(out).toContain("[sim plug] relay switched on");
    expect(out).not.toContain("magic packet for");

    const states = Object.fromEntries((await machines()).map((m) => [m.name, m.power_state]));
    expect(states).toEqual({ big: "off", small: "on" });
    expect((await fetch(`${url}/machines`)).status).toBe(401);

    // The printed lines read the usage and the energy; after the chat both show the simulated machines' figures.
    expect(out).toContain(`'${url}/usage?group_by=key,model'`);
    expect(out).toContain(`'${url}/energy'`);
    type UsageRow = { key: string; model: string; requests: number; completion_tokens: number };
    const chatRow = async () =>
      (((await (await fetch(`${url}/usage?group_by=key,model`, { headers })).json()) as { rows: UsageRow[] }).rows ?? []).find(
        (r) => r.model === "qwen2.5:7b",
      );
    // The store writes at most once a second and says nothing when it has: polled, with a deadline.
    let row: UsageRow | undefined;
    for (const deadline = Date.now() + 10_000; !row && Date.now() < deadline; await Bun.sleep(100)) row = await chatRow();
    expect(row).toMatchObject({ model: "qwen2.5:7b", requests: 1 });
    expect(row!.completion_tokens).toBeGreaterThan(0);
    const energy = (await (await fetch(`${url}/energy`, { headers })).json()) as { machines: { name: string; kwh: number | null }[] };
    expect(energy.machines.map((m) => m.name).sort()).toEqual(["big", "small"]);
    for (const m of energy.machines) expect(typeof m.kwh).toBe("number");
  } finally {
    proc.kill();
    await proc.exited;
    cleanup();
  }
});
