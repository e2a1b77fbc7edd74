/**
 * compose.replicas.yaml (issue 27, "Deployment"): two gateways and a Redis behind Traefik's load balancer, checked
 * without a Docker engine (none runs on the build machines) through `docker-compose config` on a copy of the file
 * with the deploy fixture as .env. Nothing is built, started, pulled or contacted; the addresses in the fixture
 * are from the RFC 5737 documentation range.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { envSchema } from "../../src/config/env-schema.ts";
import { OTHER_VARIABLES, unknownVariables } from "../../src/config/env-spelling.ts";
import { STATE_ENV, stateConfig } from "../../src/config/state.ts";
import { childEnv, tempDir } from "../helpers.ts";

const ROOT = join(import.meta.dir, "..", "..");
const FILE = "compose.replicas.yaml";
const FIXTURE_ENV = join(import.meta.dir, "..", "fixtures", "deploy.env");
const PASSWORD = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978";
// .env as a user would fill it in, with values the compose file must override (HOST, PORT, STATUS_FILE from the
// fixture, and these two).
const ENV_TEXT = `${readFileSync(FIXTURE_ENV, "utf8")}REDIS_PASSWORD=${PASSWORD}\nSTATE_URL=redis://elsewhere:6379/5\nREPLICA_NAME=from-dotenv\n`;
const GATEWAYS = ["ollama-gate-a", "ollama-gate-b"];
const KNOWN = Object.keys(envSchema.shape);

const text = readFileSync(join(ROOT, FILE), "utf8");

describe("compose.replicas.yaml, as written", () => {
  test("its header gives the exact command and says when not to use it", () => {
    const header = text.slice(0, text.indexOf("\nx-gateway"));
    expect(header).toContain("docker compose -f compose.replicas.yaml up -d --build");
    expect(header).toMatch(/NOT to use it: one household/);
    expect(header).toContain("stay with compose.yaml");
    expect(header).toContain("REDIS_PASSWORD=");
  });

  test("holds no password: the store's password only ever comes from .env", () => {
    expect(text).not.toMatch(/requirepass\s+[^\s%]/);
    const code = text
      .split("\n")
      .filter((l) => !l.trimStart().startsWith("#"))
      .join("\n");
    const urls = [...code.matchAll(/rediss?:\/\/(.*)/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(0);
    for (const rest of urls) expect(rest).toStartWith(":${REDIS_PASSWORD:?");
  });

  test("every variable it reads from .env is the gateway's, or one the gateway knows others read", () => {
    const read = [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))].sort();
    expect(read).toEqual(expect.arrayContaining(["REDIS_PASSWORD", "SUBDOMINIO", "OLLAMA_GATE_UID"]));
    // REDIS_PASSWORD is Redis's and Compose's, not the gateway's: it is allowed here by name.
    const strangers = read.filter((name) => !KNOWN.includes(name) && !OTHER_VARIABLES.includes(name) && name !== "REDIS_PASSWORD");
    expect(strangers).toEqual([]);
  });
});

describe("compose.replicas.yaml (docker-compose config, no engine)", () => {
  const SKIP = Bun.which("docker-compose") ? undefined : "docker-compose is missing (apt-get install docker-compose; .ci/run installs it)";
  if (SKIP) console.warn(`tests/e2e/deploy-replicas.test.ts: skipping the docker-compose config checks: ${SKIP}`);

  let dir = "";
  let cleanup = () => {};
  let config: any;
  beforeAll(() => {
    ({ dir, cleanup } = tempDir("ollama-gate-replicas-"));
    copyFileSync(join(ROOT, FILE), join(dir, FILE));
    writeFileSync(join(dir, ".env"), ENV_TEXT);
    if (SKIP) return;
    const r = compose({});
    if (r.code !== 0 || r.stderr !== "") throw new Error(`docker-compose config failed (exit ${r.code}): ${r.stderr}`);
    config = Bun.YAML.parse(r.stdout);
  });
  afterAll(() => cleanup());

  /** docker-compose with only PATH and a temp HOME in its environment, in the copy, with ENV_TEXT as .env. */
  function compose(extra: Record<string, string>) {
    const r = Bun.spawnSync(["docker-compose", "-f", FILE, "config"], { cwd: dir, env: childEnv(extra, dir), stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }
  const gateway = (name: string) => config.services[name];
  const envOf = (name: string): Record<string, string> => gateway(name).environment;

  test.skipIf(!!SKIP)("two gateways from one image, each with its own name and status directory, one config directory for both", () => {
    expect(Object.keys(config.services).sort()).toEqual([...GATEWAYS, "redis"]);
    const names = GATEWAYS.map((g) => envOf(g).REPLICA_NAME);
    expect(names).toEqual(GATEWAYS);
    for (const g of GATEWAYS) {
      const svc = gateway(g);
      expect(svc.image).toBe("ollama-gate:latest");
      expect(svc.build.context).toBe(dir);
      expect(svc.container_name).toBe(g);
      expect(svc.restart).toBe("unless-stopped");
      expect(String(svc.mem_limit)).toMatch(/^(128m|134217728)$/);
      expect(svc.user).toBe("65532:65532");
      expect(svc.healthcheck.test).toEqual(["CMD", "/app/ollama-gate", "healthcheck"]);
      expect(svc.logging).toMatchObject({ driver: "json-file", options: { "max-size": "10m", "max-file": "3" } });
      expect(svc.ports).toBeUndefined();
      expect(svc.depends_on).toEqual({ redis: { condition: "service_healthy" } });
      const suffix = g.slice(-1);
      expect(svc.volumes.map((v: any) => (typeof v === "string" ? v : `${v.source}:${v.target}`))).toEqual([
        expect.stringMatching(new RegExp(`^${dir}/status-${suffix}:/app/status(:rw)?$`)),
        // One directory of machines and keys for both, read-only: one edit reaches both gateways.
        `${dir}/config:/app/config:ro`,
      ]);
      // The same .env on both, and the file's own values win over it.
      expect(envOf(g)).toMatchObject({ EQUIPO_IA: "192.0.2.50", HOST: "0.0.0.0", PORT: "8000", STATUS_FILE: "/app/status/status.json" });
      // Traefik's network, and the LAN for the magic packet, as compose.traefik.yaml does.
      expect(Object.keys(svc.networks).sort()).toEqual(["macvlan_local", "proxy", "state"]);
    }
    expect(config.networks.proxy.external).toBeTruthy();
    expect(config.networks.macvlan_local.external).toBeTruthy();
  });

  test.skipIf(!!SKIP)("both reach the same store: the Redis service, by name, on a network of their own, with .env's password", () => {
    const states = GATEWAYS.map((g) => stateConfig(z.object(STATE_ENV).parse(envOf(g))));
    expect(states.map((s) => s?.replica)).toEqual(GATEWAYS);
    const urls = states.map((s) => new URL(s!.url));
    expect(urls[0]!.href).toBe(urls[1]!.href);
    expect(urls[0]!.hostname).toBe("redis");
    expect(urls[0]!.password).toBe(PASSWORD);
    const redis = config.services[urls[0]!.hostname];
    expect(redis).toBeDefined();
    const shared = Object.keys(redis.networks).filter((n) => GATEWAYS.every((g) => n in gateway(g).networks));
    expect(shared).toEqual(["state"]);
    expect(config.networks.state.internal).toBe(true);
  });

  test.skipIf(!!SKIP)("Redis: appendonly yes on a named volume, no host port, only its password from .env", () => {
    const redis = config.services.redis;
    expect(redis.image).toMatch(/^(redis:7(-bookworm)?|valkey\/valkey:\d[\w.-]*)$/);
    const command = (Array.isArray(redis.command) ? redis.command : [redis.command]).join(" ");
    expect(command).toContain("--appendonly yes");
    expect(command).toContain("requirepass");
    expect(command).not.toContain(PASSWORD);
    expect(redis.ports).toBeUndefined();
    expect(Object.keys(redis.networks)).toEqual(["state"]);
    const volumes = redis.volumes.map((v: any) => (typeof v === "string" ? v.split(":") : [v.source, v.target]));
    expect(volumes).toEqual([["redis-data", "/data", ...(volumes[0]?.length === 3 ? ["rw"] : [])]]);
    expect(config.volumes).toHaveProperty("redis-data");
    // None of the gateways' secrets (API keys, SSH password) reach it.
    expect(redis.environment).toEqual({ REDIS_PASSWORD: PASSWORD });
    expect(redis.healthcheck.test.join(" ")).toContain("redis-cli ping");
    expect(redis.restart).toBe("unless-stopped");
  });

  test.skipIf(!!SKIP)("Traefik: one router and one service over both gateways, with its health check", () => {
    const [a, b] = GATEWAYS.map((g) => labelsOf(gateway(g)));
    // Traefik merges only identical definitions into one load balancer with both containers as servers.
    expect(a).toEqual(b!);
    const service = a!["traefik.http.routers.ollama-gate-replicas.service"]!;
    expect(a).toMatchObject({
      "traefik.enable": "true",
      "traefik.docker.network": "proxy",
      "traefik.http.routers.ollama-gate-replicas.rule": "Host(`gate.example.test`)",
      "traefik.http.routers.ollama-gate-replicas.entrypoints": "websecure",
      "traefik.http.routers.ollama-gate-replicas.tls.certresolver": "letsencrypt",
      "traefik.http.routers.ollama-gate-replicas-http.middlewares": "ollama-gate-replicas-https-redirect",
      [`traefik.http.services.${service}.loadbalancer.server.port`]: "8000",
      [`traefik.http.services.${service}.loadbalancer.healthcheck.path`]: "/",
      [`traefik.http.services.${service}.loadbalancer.healthcheck.interval`]: expect.stringMatching(/^\d+s$/),
      [`traefik.http.services.${service}.loadbalancer.healthcheck.timeout`]: expect.stringMatching(/^\d+s$/),
    });
    const services = new Set(Object.keys(a!).flatMap((k) => k.match(/^traefik\.http\.services\.([^.]+)\./)?.[1] ?? []));
    expect([...services]).toEqual([service]);
  });

  test.skipIf(!!SKIP)("every variable the file sets for the gateways is one the gateway reads, and none is warned about", () => {
    // With a .env of only what the file requires, what remains in a gateway's environment is the file's own.
    const minimal = { REDIS_PASSWORD: PASSWORD, SUBDOMINIO: "gate.example.test" };
    writeFileSync(
      join(dir, ".env"),
      Object.entries(minimal)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    );
    let bare: any;
    try {
      const r = compose({});
      expect(r.code).toBe(0);
      bare = Bun.YAML.parse(r.stdout);
    } finally {
      writeFileSync(join(dir, ".env"), ENV_TEXT);
    }
    for (const g of GATEWAYS) {
      const setByFile = Object.keys(bare.services[g].environment).filter((n) => !(n in minimal));
      expect(setByFile).toEqual(expect.arrayContaining(["STATE_URL", "REPLICA_NAME"]));
      expect(setByFile.filter((n) => !KNOWN.includes(n))).toEqual([]);
      // With the whole .env, REDIS_PASSWORD reaches the gateways too (env_file): the start-up spelling check lets it be.
      expect(unknownVariables(Object.keys(envOf(g)), KNOWN, new Set())).toEqual([]);
    }
  });

  test.skipIf(!!SKIP)("deploy.sh's user and the entry point variables reach both gateways", () => {
    const r = compose({ OLLAMA_GATE_UID: "1000", OLLAMA_GATE_GID: "1001", TRAEFIK_ENTRYPOINT_HTTPS: "https" });
    expect(r.code).toBe(0);
    const services = (Bun.YAML.parse(r.stdout) as any).services;
    for (const g of GATEWAYS) {
      expect(services[g].user).toBe("1000:1001");
      expect(labelsOf(services[g])["traefik.http.routers.ollama-gate-replicas.entrypoints"]).toBe("https");
    }
  });

  test.skipIf(!!SKIP)("refuses to render without REDIS_PASSWORD, and says why without quoting a secret", () => {
    writeFileSync(join(dir, ".env"), ENV_TEXT.replace(/^REDIS_PASSWORD=.*\n/m, ""));
    try {
      const r = compose({});
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("set REDIS_PASSWORD in .env");
      for (const secret of ["fixture-ssh-pass-7c1e", "fixture-api-key-3b9d"]) expect(r.stdout + r.stderr).not.toContain(secret);
    } finally {
      writeFileSync(join(dir, ".env"), ENV_TEXT);
    }
  });
});

/** Compose labels as a map, whether the tool printed a list or a map. */
function labelsOf(svc: { labels: string[] | Record<string, string> }): Record<string, string> {
  return Array.isArray(svc.labels) ? Object.fromEntries(svc.labels.map((l) => l.split(/=(.*)/s).slice(0, 2))) : svc.labels;
}
