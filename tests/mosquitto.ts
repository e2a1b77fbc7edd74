// Debian's mosquitto on a loopback port, for the MQTT tests: a config file in a temp dir, anonymous or with a
// password file, no persistence (a restart forgets every retained message, as a broker without a disk would).
// And a client that reads back what the gateway publishes, waiting on messages, never on sleeps.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { childEnv } from "./helpers.ts";

export const MOSQUITTO = "/usr/sbin/mosquitto";
export const MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd";
export const hasMosquitto = existsSync(MOSQUITTO);
export const hasMosquittoPasswd = existsSync(MOSQUITTO_PASSWD);

/** A loopback port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts a connection on the loopback port now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export interface Broker {
  port: number;
  url: string;
  /** Stops it (SIGTERM) and waits for it to end. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** What it has logged (connections, disconnections, refusals). */
  log(): string;
}

/** A mosquitto on 127.0.0.1; with `user`, only that user and password may log in. */
export async function startBroker(
  dir: string,
  opts: { user?: { name: string; password: string }; tls?: { certfile: string; keyfile: string } } = {},
): Promise<Broker> {
  const port = await freePort();
  // Its log goes to a file (a pipe nobody read would fill and stop it): the tests read it, as `log()`.
  const logFile = join(dir, `mosquitto-${port}.log`);
  const lines = [`listener ${port} 127.0.0.1`, "persistence false", `log_dest file ${logFile}`];
  if (opts.tls) lines.push(`certfile ${opts.tls.certfile}`, `keyfile ${opts.tls.keyfile}`);
  // As root, mosquitto would switch to its own user, who may not read the temp dir.
  if (process.getuid?.() === 0) lines.push("user root");
  if (opts.user) {
    const file = join(dir, "passwords");
    writeFileSync(file, "");
    const made = Bun.spawnSync([MOSQUITTO_PASSWD, "-b", file, opts.user.name, opts.user.password], { env: childEnv({}, dir) });
    if (made.exitCode !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr}`);
    lines.push("allow_anonymous false", `password_file ${file}`);
  } else lines.push("allow_anonymous true");
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  const broker: Broker = {
    port,
    url: `${opts.tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
    async start() {
      const p = Bun.spawn([MOSQUITTO, "-c", conf], { cwd: dir, env: childEnv({}, dir), stdout: "ignore", stderr: "ignore" });
      proc = p;
      // Ready once it accepts a connection; a broker that exits or never listens is stopped, and the test told why.
      const deadline = Date.now() + 10_000;
      while (!(await accepts(port))) {
        if (p.exitCode !== null || Date.now() > deadline) {
          p.kill("SIGKILL");
          await p.exited;
          proc = null;
          throw new Error(`mosquitto did not listen on ${port}:\n${broker.log()}`);
        }
        await Bun.sleep(20);
      }
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    async stop() {
      if (!proc) return;
      proc.kill("SIGTERM");
      await proc.exited;
      proc = null;
    },
  };
  await broker.start();
  return broker;
}

export interface Reader {
  client: MqttClient;
  /** Every message seen so far: topic, payload, retain flag. */
  seen: { topic: string; payload: string; retain: boolean; at: number }[];
  /** The first message (seen already or still to come) that matches; rejects after `ms`, a bound on failure only. */
  next(
    match: (m: { topic: string; payload: string; retain: boolean }) => boolean,
    ms?: number,
    from?: number,
  ): Promise<{ topic: string; payload: string; retain: boolean; at: number }>;
  close(): Promise<void>;
}

/** A client subscribed to `topics`, keeping every message. */
export async function reader(url: string, topics: string[], auth: { username?: string; password?: string } = {}): Promise<Reader> {
  // MQTT 5 and Retain As Published: a message the gateway published retained reads as retained even when it
  // arrives live, whichever of the two connected first.
  const client = await mqtt.connectAsync(url, { ...auth, reconnectPeriod: 0, protocolVersion: 5 });
  const seen: Reader["seen"] = [];
  const waiters = new Set<{ match: (m: Reader["seen"][number]) => boolean; resolve: (m: Reader["seen"][number]) => void }>();
  client.on("message", (topic, payload, packet) => {
    const m = { topic, payload: String(payload), retain: packet.retain, at: performance.now() };
    seen.push(m);
    for (const w of waiters) if (w.match(m)) waiters.delete(w), w.resolve(m);
  });
  await client.subscribeAsync(topics, { qos: 1, rap: true });
  return {
    client,
    seen,
    next(match, ms = 10_000, from = 0) {
      const found = seen.slice(from).find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (m: Reader["seen"][number]) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching MQTT message within ${ms} ms; seen: ${seen.map((s) => `${s.topic}=${s.payload}`).join(", ")}`));
        }, ms);
        waiters.add(w);
      });
    },
    close: () => client.endAsync(true),
  };
}

export const OPENSSL = "/usr/bin/openssl";

/**
 * A test authority and two broker certificates it signed, made with openssl in `dir`: one for 127.0.0.1, one for
 * another name only (a broker that is not the one asked for).
 */
export function testCertificates(dir: string): { ca: string; right: string; wrongName: string; key: string } {
  const run = (...args: string[]) => {
    const r = Bun.spawnSync([OPENSSL, ...args], { cwd: dir, env: childEnv({}, dir), stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const f = (name: string) => join(dir, name);
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=ollama-gate test CA");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("broker.key"), "-out", f("broker.csr"), "-subj", "/CN=broker");
  for (const [out, san] of [
    ["right.pem", "IP:127.0.0.1"],
    ["wrong.pem", "DNS:broker.invalid"],
  ] as const) {
    writeFileSync(f(`${out}.ext`), `subjectAltName=${san}\n`);
    run(
      "x509",
      "-req",
      "-in",
      f("broker.csr"),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-out",
      f(out),
      "-days",
      "2",
      "-extfile",
      f(`${out}.ext`),
    );
  }
  return { ca: f("ca.pem"), right: f("right.pem"), wrongName: f("wrong.pem"), key: f("broker.key") };
}
