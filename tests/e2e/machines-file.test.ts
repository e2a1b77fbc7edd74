// MACHINES_FILE: the fleet in YAML (or JSON), with the environment's globals as defaults and ${NAME} from .env.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/config.ts";
import { secretsOf } from "../../src/config/view.ts";
import { bunCommand, childEnv, ROOT, tempDir } from "../helpers.ts";

const KEYS = { API_KEYS: "key-one-1", STATUS_FILE: "/data/status/status.json" };

const FLEET = `
machines:
  - name: big
    host: 192.168.1.50
    mac: "AA-BB-CC-DD-EE-FF"
    ssh: { user: ia, password: "\${BIG_SSH_PASS}", shutdown_command: "systemctl suspend" }
    wol: { broadcast: 192.168.1.255 }
    models: ["llama3.1:70b"]
    priority: 10
    idle_shutdown_min: 20
  - name: small
    host: 192.168.1.51
    ollama_port: 11500
    power_on:  { http: { url: "http://192.168.1.60/relay/0?turn=on&token=\${PLUG_TOKEN}" } }
    power_off: { command: [ipmitool, power, off] }
    models: ["qwen2.5:7b"]
`;

function withFile(text: string, env: Record<string, string> = {}, name = "machines.yaml") {
  const { dir, cleanup } = tempDir();
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    return parseConfig({ ...KEYS, MACHINES_FILE: file, ...env });
  } finally {
    cleanup();
  }
}

const errorsOf = (r: ReturnType<typeof parseConfig>) => (r.ok ? [] : r.errors);

describe("a machines file", () => {
  test("lists the fleet: the first machine is the default, globals are defaults a machine overrides", () => {
    const r = withFile(FLEET, { BIG_SSH_PASS: "pw-big-123", PLUG_TOKEN: "tok-456", IDLE_SHUTDOWN_MIN: "45", WAKE_TIMEOUT_S: "90" });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    const [big, small] = r.config.machines;
    expect(r.config.machine.name).toBe("big");
    expect(big).toMatchObject({
      host: "192.168.1.50",
      mac: "aa:bb:cc:dd:ee:ff",
      ollamaPort: 11434,
      ssh: { user: "ia", port: 22, password: "pw-big-123", sudoPassword: "pw-big-123" },
      shutdownCommand: "systemctl suspend",
      wol: { address: "192.168.1.255", port: 9 },
      statusFile: "/data/status/status.json",
      metadataCacheFile: "/data/status/metadata_cache.json",
      probePort: 22,
      models: ["llama3.1:70b"],
      priority: 10,
      powerOn: { kind: "wol" },
      powerOff: { kind: "ssh" },
      power: { idleShutdownMs: 20 * 60_000, wakeTimeoutMs: 90_000 },
    });
    expect(small).toMatchObject({
      ollamaPort: 11500,
      // No SSH: "does it answer?" asks its Ollama port; it has its own status file beside the default one.
      probePort: 11500,
      statusFile: "/data/status/status-small.json",
      metadataCacheFile: "/data/status/metadata_cache-small.json",
      powerOn: { kind: "http", http: { url: "http://192.168.1.60/relay/0?turn=on&token=tok-456", method: "POST", headers: {} } },
      powerOff: { kind: "command", argv: ["ipmitool", "power", "off"] },
      power: { idleShutdownMs: 45 * 60_000 },
    });
    // Whatever came from the environment through ${…} is a secret for the redactor.
    expect(secretsOf(r.config)).toEqual(expect.arrayContaining(["pw-big-123", "tok-456"]));
  });

  test("JSON is YAML too", () => {
    const r = withFile(JSON.stringify({ machines: [{ name: "one", host: "10.0.0.2", mac: "aabbccddeeff" }] }), {}, "machines.json");
    expect(r.ok && r.config.machines.map((m) => [m.name, m.powerOn.kind, m.powerOff.kind])).toEqual([["one", "wol", "none"]]);
  });

  test("beside the single-machine variables it is an error naming both", () => {
    expect(errorsOf(withFile(FLEET, { BIG_SSH_PASS: "x", PLUG_TOKEN: "y", EQUIPO_IA: "ia.lan", SSH_USER: "ia" }))).toEqual([
      "MACHINES_FILE: set together with EQUIPO_IA, SSH_USER; the machines file describes every machine, so leave those unset (examples/several.env is a .env to start from)",
    ]);
  });

  test("a ${NAME} that is not set is an error naming it and where it is used, never a value", () => {
    const errors = errorsOf(withFile(FLEET, { PLUG_TOKEN: "tok-456" }));
    expect(errors).toEqual(["MACHINES_FILE machines[0] (big).ssh.password: ${BIG_SSH_PASS} is not set in the environment"]);
  });

  test("each problem is one line naming the machine and the key", () => {
    const text = `
machines:
  - name: big
    host: a
    mac: not-a-mac
    colour: red
  - name: big
    host: b
    mac: "aa:bb:cc:dd:ee:01"
    power_off: { http: { url: "ftp://plug/off" } }
  - name: small
    host: c
  - name: Bad_Name
    host: d
    power_on: { command: [] }
`;
    expect(errorsOf(withFile(text)).sort()).toEqual(
      [
        'MACHINES_FILE machines[0] (big): Unrecognized key: "colour"',
        "MACHINES_FILE machines[0] (big).mac: expected a MAC address like aa:bb:cc:dd:ee:ff",
        "MACHINES_FILE machines[1] (big).power_off.http.url: expected an http:// or https:// URL",
        "MACHINES_FILE machines[3] (Bad_Name).name: expected lowercase letters, digits and dashes, starting with a letter or digit",
        "MACHINES_FILE machines[3] (Bad_Name).power_on.command: expected the program and its arguments, e.g. [ipmitool, power, on]",
      ].sort(),
    );
    // Once each machine is well formed, what they cannot share and what their power methods need.
    const cross = `
machines:
  - { name: big, host: a, mac: "aa:bb:cc:dd:ee:01" }
  - { name: big, host: b, mac: "aa:bb:cc:dd:ee:02" }
  - { name: small, host: c }
  - { name: tiny, host: d, power_on: { command: [/bin/true] }, power_off: ssh }
`;
    expect(errorsOf(withFile(cross))).toEqual([
      "MACHINES_FILE machines[1] (big).name: another machine is already named big",
      "MACHINES_FILE machines[2] (small).mac: required when power_on is wol (the default)",
      "MACHINES_FILE machines[3] (tiny).power_off: ssh needs the machine's ssh settings",
    ]);
  });

  test("what would fail only at the first wake is refused at start: a host with a port, a bad header, a GET with a body", () => {
    const text = `
machines:
  - name: one
    host: "192.168.1.50:11434"
    power_on: { http: { url: "http://plug/on", method: POST, headers: { "bad name": "v" } } }
  - name: two
    host: box
    power_on: { http: { url: "http://plug/on", method: GET, body: "x" } }
`;
    expect(errorsOf(withFile(text)).sort()).toEqual(
      [
        "MACHINES_FILE machines[0] (one).host: expected a host name or an IP address (no scheme, port or path)",
        "MACHINES_FILE machines[1] (two).power_on.http.body: a GET sends no body: use POST, or leave body out",
        "MACHINES_FILE machines[0] (one).power_on.http.headers.bad name: expected a header name (letters, digits, - and a few signs)",
      ].sort(),
    );
  });

  test("numbers and flags may come from the environment too", () => {
    const text = "machines:\n  - { name: one, host: box, mac: aabbccddeeff, ollama_port: '${OLLAMA_P}', auto_wake: '${WAKE}' }\n";
    const r = withFile(text, { OLLAMA_P: "11500", WAKE: "false" });
    expect(r.ok && [r.config.machine.ollamaPort, r.config.machine.power.autoWake]).toEqual([11500, false]);
  });

  test("a file that is missing, not YAML, or lists nothing says so", () => {
    expect(errorsOf(parseConfig({ ...KEYS, MACHINES_FILE: "/nonexistent/machines.yaml" }))).toEqual([
      "MACHINES_FILE: no file at /nonexistent/machines.yaml",
    ]);
    expect(errorsOf(withFile("machines: [\n  - name: big\n   bad: ["))[0]).toStartWith("MACHINES_FILE line 1, column 11: this [ is not closed");
    expect(errorsOf(withFile("machines: []"))).toEqual(["MACHINES_FILE machines: expected at least one machine"]);
  });
});

describe("without a machines file", () => {
  test("the environment's one machine is named by MACHINE_NAME (default: default)", () => {
    const env = { ...KEYS, EQUIPO_IA: "ia.lan", IA_MAC: "aa:bb:cc:dd:ee:ff" };
    const named = parseConfig({ ...env, MACHINE_NAME: "gpu-box" });
    expect(named.ok && named.config.machines.map((m) => m.name)).toEqual(["gpu-box"]);
    expect(errorsOf(parseConfig({ ...env, MACHINE_NAME: "GPU box" }))).toEqual([
      "MACHINE_NAME: expected lowercase letters, digits and dashes, starting with a letter or digit",
    ]);
  });
});

test("a wrong machines file stops the gateway before it listens: exit code 2, one line per problem", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "machines.yaml");
    writeFileSync(file, "machines:\n  - { name: big, host: a, ssh: { user: ia, password: '${NOPE_PASS}' } }\n");
    const proc = Bun.spawn(bunCommand(join(ROOT, "src", "index.ts")), {
      cwd: dir,
      env: childEnv({ API_KEYS: "key-one-1", MACHINES_FILE: file, PORT: "0", HOST: "127.0.0.1" }, dir),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(2);
    expect(stderr).toContain("MACHINES_FILE machines[0] (big).ssh.password: ${NOPE_PASS} is not set in the environment");
    expect(stderr).toContain("MACHINES_FILE machines[0] (big).mac: required when power_on is wol (the default)");
    expect(stderr).not.toContain("listening");
  } finally {
    cleanup();
  }
});
