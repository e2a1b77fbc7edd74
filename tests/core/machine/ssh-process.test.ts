import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { UnavailableError, UpstreamError } from "../../../src/core/errors.ts";
import { sshShutdownInHelper } from "../../../src/core/machine/ssh-process.ts";
import { freePort } from "../../../src/sim/ports.ts";
import { SimSshServer } from "../../../src/sim/ssh-server.ts";
import { tempDir } from "../../helpers.ts";

const servers: SimSshServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const target = (port: number, extra: Record<string, unknown> = {}) => ({
  host: "127.0.0.1",
  port,
  user: "ia",
  password: "helper-pass-1234",
  sudoPassword: "helper-sudo-5678",
  hostKeys: { knownHostsFile: join(tempDir().dir, "known_hosts") },
  connectTimeoutMs: 5000,
  ...extra,
});

test("the shutdown runs in a helper process: the command arrives, the sudo password on its stdin, and the outcome comes back", async () => {
  // A recorder, never a shell: it answers every command with exit 0 and runs nothing.
  const server = new SimSshServer({ user: "ia", password: "helper-pass-1234", run: () => ({ code: 0 }) });
  servers.push(server);
  const port = await freePort();
  await server.listen(port);
  expect(await sshShutdownInHelper(target(port), "shutdown -h now")).toEqual({ via: "sudo", exitCode: 0 });
  expect(server.execs).toEqual([{ user: "ia", command: "sudo -S -p '' shutdown -h now", stdin: "helper-sudo-5678\n" }]);
});

test("its refusals come back as the gateway's own errors, with their messages and no secret", async () => {
  const unconfigured = await sshShutdownInHelper(target(22, { user: undefined }), "shutdown -h now").catch((e) => e);
  expect(unconfigured).toBeInstanceOf(UnavailableError);
  expect(unconfigured.detail).toContain("SSH_USER");
  const closed = await sshShutdownInHelper(target(await freePort()), "shutdown -h now").catch((e) => e);
  expect(closed).toBeInstanceOf(UpstreamError);
  expect(closed.detail).toContain("127.0.0.1");
  for (const err of [unconfigured, closed]) expect(JSON.stringify({ d: err.detail, m: err.message })).not.toMatch(/helper-(pass|sudo)/);
});
