import { expect, test } from "bun:test";
import { join } from "node:path";

test("the demo starts a gateway and a simulated machine that boots on /arrancar", async () => {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "src", "demo.ts")], {
    env: { ...process.env, PORT: "0", DEMO_BOOT_DELAY_MS: "50" },
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
    const res = await fetch(`${url}/arrancar`, { method: "POST", headers: { "X-API-Key": key! } });
    expect(await res.json()).toMatchObject({ wol_sent: true, peticions_ollama: 1 });
    await readUntil(/\[simulated machine\] on/);
    expect((await fetch(`${url}/status`)).status).toBe(401);
  } finally {
    proc.kill();
    await proc.exited;
  }
});
