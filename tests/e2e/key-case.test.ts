// A body's keys are read as Ollama's Go decoder reads them, in any letter case (`"Model"` is `model`), by the
// routing and by the check of a key limited to some models alike: one key matcher (src/lib/json/keys.ts).
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FleetHarness, type Harness, startFleetHarness, startHarness, tempDir } from "../helpers.ts";

let fleet: FleetHarness | undefined;
let one: Harness | undefined;
let cleanup: () => void = () => {};
afterEach(async () => {
  await fleet?.close();
  await one?.close();
  fleet = one = undefined;
  cleanup();
  cleanup = () => {};
});

test('with several machines, {"Model": "qwen2.5:7b"} goes to the machine holding it, as Ollama reads "model"', async () => {
  fleet = await startFleetHarness();
  const body = '{"Model":"qwen2.5:7b","messages":[{"role":"user","content":"hi"}],"stream":false}';
  const res = await fleet.api("/api/chat", { method: "POST", body, headers: { "content-type": "application/json" } });
  // Not the gateway's 400 ("found none"): the answer is the machine's (the simulated Ollama itself reads only
  // "model", so what it says is beside the point), and the body reached it as the client wrote it.
  expect(await res.text()).not.toContain("pin a machine");
  expect(fleet.small.ollama.requests.filter((r) => r.path === "/api/chat").map((r) => r.body)).toEqual([body]);
  expect(fleet.plug.calls.map((c) => c.query.turn)).toEqual(["on"]);
  expect(fleet.big.packets).toHaveLength(0);
});

test("a large body naming its MODEL in capitals streams through to the machine holding it", async () => {
  fleet = await startFleetHarness({ on: ["small"] });
  const body = `{"MODEL":"qwen2.5:7b","prompt":"${"x".repeat(3 * 1048576)}","stream":false}`; // past the size read whole
  const res = await fleet.api("/api/generate", { method: "POST", body, headers: { "content-type": "application/json" } });
  expect(await res.text()).not.toContain("pin a machine");
  expect(fleet.small.ollama.requests.find((r) => r.path === "/api/generate")?.body.length).toBe(body.length);
  expect(fleet.big.packets).toHaveLength(0);
});

test('a key limited to some models is still refused {"Model": "another"}, and let through with its own "Model"', async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  const LIMITED = "limited-key-0123456789";
  writeFileSync(join(dir.dir, "keys.yaml"), `keys:\n  - { name: chat, key: ${LIMITED}, role: inference, models: ["llama3*"] }\n`);
  one = await startHarness({ on: true, env: { KEYS_FILE: join(dir.dir, "keys.yaml") } });
  const post = (body: string) =>
    fetch(`${one!.url}/api/chat`, { method: "POST", headers: { "x-api-key": LIMITED, "content-type": "application/json" }, body });
  const chats = () => one!.sim.ollama.requests.filter((r) => r.path === "/api/chat");
  for (const body of [
    '{"Model":"qwen2.5-coder:7b","messages":[]}',
    '{"MODEL":"qwen2.5-coder:7b","messages":[]}',
    '{"\\u004dodel":"qwen2.5-coder:7b"}',
  ]) {
    const res = await post(body);
    expect(`${body} ${res.status}`).toBe(`${body} 403`);
  }
  expect(chats()).toHaveLength(0);
  const own = await post('{"Model":"llama3.2:3b","messages":[],"stream":false}');
  expect(own.status).not.toBe(403); // its model, named in capitals: checked and forwarded
  expect(chats()).toHaveLength(1);
});
