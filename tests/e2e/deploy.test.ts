/**
 * The container and deployment files, checked without a Docker engine (none runs on the build machines):
 * the Dockerfile's shape, what .dockerignore lets into the build, `docker-compose config` on the merged
 * compose files, shellcheck on deploy.sh, and deploy.sh runs against a `docker` stub on PATH.
 *
 * Safety: deploy.sh only ever meets stub `docker`, `docker-compose`, `git` and `sudo` scripts written here, which
 * record their arguments and print canned answers; nothing is built, started, pulled or sent anywhere.
 * The addresses in the fixtures are from the RFC 5737 documentation range and are never contacted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv, scratchDir, tempDir } from "../helpers.ts";

const ROOT = join(import.meta.dir, "..", "..");
const FIXTURE_ENV = join(import.meta.dir, "..", "fixtures", "deploy.env");
const FIXTURE_SECRETS = ["fixture-ssh-pass-7c1e", "fixture-api-key-3b9d", "fixture-api-key-second"];
const COMPOSE_ARGS = ["-f", "compose.yaml", "-f", "compose.traefik.yaml"];

const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

function skipReason(tool: string, pkg: string): string | undefined {
  return Bun.which(tool) ? undefined : `${tool} is missing (apt-get install ${pkg}; .ci/run installs it)`;
}

// ---------------------------------------------------------------------------------------------------
describe("Dockerfile", () => {
  const text = read("Dockerfile");
  const lines = text.split("\n").filter((l) => l.trim() && !l.trimStart().startsWith("#"));
  const instr = (name: string) => lines.filter((l) => l.startsWith(name + " "));
  const finalStage = text.slice(text.lastIndexOf("\nFROM "));

  test("is multi-stage, with a distroless non-root final stage", () => {
    const froms = instr("FROM");
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms.at(-1)).toMatch(/^FROM gcr\.io\/distroless\/[a-z0-9-]+-debian12:nonroot$/);
    // Every base image is pinned to a tag, not `latest`.
    for (const from of froms) expect(from).toMatch(/^FROM \S+:[^\s:]+( AS \w+)?$/);
  });

  test("runs as a non-root user, exposes 8000, keeps status/ on a volume", () => {
    const user = finalStage.match(/^USER (\S+)$/m)?.[1];
    expect(user).toBeDefined();
    expect(user!.split(":")[0]).not.toMatch(/^(0|root)$/);
    expect(finalStage).toMatch(/^EXPOSE 8000$/m);
    expect(finalStage).toMatch(/^VOLUME \["\/app\/status"\]$/m);
    expect(finalStage).toMatch(/^ENV .*\bSTATUS_FILE=\/app\/status\/status\.json\b/m);
  });

  test("the health check is the app's own healthcheck mode, in exec form (no shell, no curl)", () => {
    const hc = instr("HEALTHCHECK");
    expect(hc).toHaveLength(1);
    const cmd = JSON.parse(hc[0]!.replace(/^HEALTHCHECK .*?CMD /, ""));
    expect(cmd).toEqual(["/app/ollama-gate", "healthcheck"]);
    expect(lines.join("\n")).not.toMatch(/\b(curl|wget)\b/);
    expect(JSON.parse(instr("ENTRYPOINT")[0]!.slice("ENTRYPOINT ".length))).toEqual(["/app/ollama-gate"]);
  });

  test("every file the build copies from the context gets past .dockerignore", () => {
    const copied = instr("COPY")
      .filter((l) => !l.includes("--from="))
      .flatMap((l) =>
        l
          .split(/\s+/)
          .slice(1, -1)
          .filter((a) => !a.startsWith("--")),
      );
    expect(copied).toContain("package-lock.json");
    const ignore = dockerignore(read(".dockerignore"));
    for (const path of copied) {
      const file = path.endsWith("/") || !path.includes(".") ? `${path.replace(/\/$/, "")}/index.ts` : path;
      expect({ path: file, excluded: ignore(file) }).toEqual({ path: file, excluded: false });
    }
  });
});

// ---------------------------------------------------------------------------------------------------
describe(".dockerignore", () => {
  const ignore = dockerignore(read(".dockerignore"));

  test.each([
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "src/index.ts",
    "src/cli/healthcheck.ts",
    "src/core/machine/host-keys.ts",
    "status/base.json",
  ])("lets %s into the build", (path) => {
    expect(ignore(path)).toBe(false);
  });

  test.each([
    ".env",
    ".env.local",
    "src/.env",
    "status/status.json",
    "status/ssh_known_hosts.json",
    "status/status.json.corrupt-2026-01-01T00-00-00-000Z",
    "tests/e2e/deploy.test.ts",
    "tests/fixtures/deploy.env",
    "node_modules/hono/package.json",
    ".git/HEAD",
    "ollama-gate-key",
    "ollama-gate-key.pub",
    "bench/run.ts",
    "README.md",
  ])("keeps %s out of the build", (path) => {
    expect(ignore(path)).toBe(true);
  });
});

/**
 * Docker's .dockerignore rules, re-implemented for the test (there is no engine to ask): patterns are
 * relative to the context root, `*` and `?` stop at `/`, `**` crosses directories, a `!` line re-includes,
 * the last matching line wins, and a pattern that matches a directory matches everything inside it.
 */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
      let re = "";
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === "*" && pattern[i + 1] === "*") {
          re += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
          i += pattern[i + 2] === "/" ? 2 : 1;
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      }
      return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const rule of rules) if (rule.re.test(path)) excluded = !rule.negate;
    return excluded;
  };
}

// ---------------------------------------------------------------------------------------------------
describe("compose.yaml + compose.traefik.yaml (docker-compose config, no engine)", () => {
  const SKIP = skipReason("docker-compose", "docker-compose");
  if (SKIP) console.warn(`tests/deploy.test.ts: skipping the docker-compose config checks: ${SKIP}`);

  let dir = "";
  let cleanup = () => {};
  beforeAll(() => {
    ({ dir, cleanup } = tempDir("ollama-gate-compose-"));
    for (const f of ["compose.yaml", "compose.traefik.yaml"]) copyFileSync(join(ROOT, f), join(dir, f));
    copyFileSync(FIXTURE_ENV, join(dir, ".env"));
  });
  afterAll(() => cleanup());

  /** docker-compose with only PATH and a temp HOME in its environment, in a copy of the project with the fixture as .env. */
  function compose(args: string[], env: Record<string, string> = {}) {
    const r = Bun.spawnSync(["docker-compose", ...args], {
      cwd: dir,
      env: childEnv(env, dir),
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  test.skipIf(!!SKIP)("the files merge into the expected service", () => {
    const r = compose([...COMPOSE_ARGS, "config"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const config = Bun.YAML.parse(r.stdout) as any;
    const svc = config.services["ollama-gate"];

    expect(svc.restart).toBe("unless-stopped");
    expect(String(svc.mem_limit)).toMatch(/^(128m|134217728)$/);
    expect(svc.user).toBe("65532:65532");
    expect(svc.healthcheck.test).toEqual(["CMD", "/app/ollama-gate", "healthcheck"]);
    expect(svc.logging).toMatchObject({ driver: "json-file", options: { "max-size": "10m", "max-file": "3" } });
    expect(svc.volumes.map((v: any) => (typeof v === "string" ? v : `${v.source}:${v.target}`))).toEqual([
      expect.stringMatching(new RegExp(`^${dir}/status:/app/status(:rw)?$`)),
    ]);
    // env_file: .env is read, and compose.yaml's own HOST/PORT/STATUS_FILE win over it.
    expect(svc.environment).toMatchObject({
      EQUIPO_IA: "192.0.2.50",
      SUBDOMINIO: "gate.example.test",
      HOST: "0.0.0.0",
      PORT: "8000",
      STATUS_FILE: "/app/status/status.json",
    });
    expect(svc.ports).toBeUndefined();

    expect(Object.keys(svc.networks).sort()).toEqual(["macvlan_local", "proxy"]);
    expect(config.networks.proxy.external).toBeTruthy();
    expect(config.networks.macvlan_local.external).toBeTruthy();

    expect(labelsOf(svc)).toMatchObject({
      "traefik.enable": "true",
      "traefik.docker.network": "proxy",
      "traefik.http.routers.ollama-gate-http.rule": "Host(`gate.example.test`)",
      "traefik.http.routers.ollama-gate-http.entrypoints": "web",
      "traefik.http.routers.ollama-gate-http.middlewares": "ollama-gate-https-redirect",
      "traefik.http.middlewares.ollama-gate-https-redirect.redirectscheme.scheme": "https",
      "traefik.http.routers.ollama-gate.rule": "Host(`gate.example.test`)",
      "traefik.http.routers.ollama-gate.entrypoints": "websecure",
      "traefik.http.routers.ollama-gate.tls": "true",
      "traefik.http.routers.ollama-gate.tls.certresolver": "letsencrypt",
      "traefik.http.services.ollama-gate.loadbalancer.server.port": "8000",
    });
  });

  test.skipIf(!!SKIP)("deploy.sh's user and Traefik entry point variables reach the merged file", () => {
    const r = compose([...COMPOSE_ARGS, "config"], {
      OLLAMA_GATE_UID: "1000",
      OLLAMA_GATE_GID: "1001",
      TRAEFIK_ENTRYPOINT_HTTPS: "https",
    });
    expect(r.code).toBe(0);
    const svc = (Bun.YAML.parse(r.stdout) as any).services["ollama-gate"];
    expect(svc.user).toBe("1000:1001");
    expect(labelsOf(svc)["traefik.http.routers.ollama-gate.entrypoints"]).toBe("https");
  });

  test.skipIf(!!SKIP)("the Traefik overlay refuses to render without SUBDOMINIO, and says why", () => {
    const env = readFileSync(FIXTURE_ENV, "utf8").replace(/^SUBDOMINIO=.*$/m, "SUBDOMINIO=");
    writeFileSync(join(dir, ".env"), env);
    try {
      const r = compose([...COMPOSE_ARGS, "config"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("set SUBDOMINIO in .env");
      // compose.yaml alone needs no SUBDOMINIO.
      expect(compose(["-f", "compose.yaml", "config", "-q"]).code).toBe(0);
    } finally {
      copyFileSync(FIXTURE_ENV, join(dir, ".env"));
    }
  });
});

// ---------------------------------------------------------------------------------------------------
describe("deploy.sh", () => {
  const SHELLCHECK_SKIP = skipReason("shellcheck", "shellcheck");
  if (SHELLCHECK_SKIP) console.warn(`tests/deploy.test.ts: skipping shellcheck: ${SHELLCHECK_SKIP}`);

  test.skipIf(!!SHELLCHECK_SKIP)("is shellcheck-clean", () => {
    // A temp HOME and working directory: a ~/.shellcheckrc of the user's would change what it reports.
    const r = Bun.spawnSync(["shellcheck", "--severity=style", join(ROOT, "deploy.sh")], {
      cwd: scratchDir(),
      env: childEnv(),
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("is strict bash, executable, and parses", () => {
    const text = read("deploy.sh");
    expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
    expect(statSync(join(ROOT, "deploy.sh")).mode & 0o111).not.toBe(0);
    expect(Bun.spawnSync(["bash", "-n", join(ROOT, "deploy.sh")], { cwd: scratchDir(), env: childEnv() }).exitCode).toBe(0);
  });

  test("--help explains the flags and changes nothing", () => {
    const s = stubbed();
    try {
      const r = s.run(["--help"], {});
      expect(r.code).toBe(0);
      for (const flag of ["--dry-run", "--no-pull", "--parent", "--subnet", "--gateway", "--ip-range", "--help"]) {
        expect(r.stdout).toContain(flag);
      }
      expect(s.calls()).toEqual([]);
    } finally {
      s.cleanup();
    }
  });

  test("--dry-run with the macvlan network missing: prints the exact create command and stops", () => {
    const s = stubbed();
    try {
      // Half of the values from flags, half from the environment.
      const r = s.run(["--dry-run", "--subnet", "192.0.2.0/24", "--gateway=192.0.2.1"], {
        STUB_NETWORKS: "",
        MACVLAN_IP_RANGE: "192.0.2.240/28",
        MACVLAN_PARENT: "eth9",
      });
      expect(r.code).toBe(3);
      expect(dryRunLines(r.stdout)).toEqual(["git pull --ff-only", "docker network create proxy"]);
      expect(r.stderr).toContain(
        "\n  docker network create -d macvlan --subnet=192.0.2.0/24 --gateway=192.0.2.1 --ip-range=192.0.2.240/28 -o parent=eth9 macvlan_local\n",
      );
      expect(r.stderr).not.toContain("<");
      // Only read-only questions reached docker.
      expect(s.calls()).toEqual(["docker compose version", "docker network inspect proxy", "docker network inspect macvlan_local"]);
      s.expectNoSecrets(r);
    } finally {
      s.cleanup();
    }
  });

  test("--dry-run with the macvlan network missing and no values: placeholders and what to put in them", () => {
    const s = stubbed();
    try {
      const r = s.run(["--dry-run", "--no-pull"], { STUB_NETWORKS: "proxy" });
      expect(r.code).toBe(3);
      expect(dryRunLines(r.stdout)).toEqual([]);
      expect(r.stderr).toContain(
        "docker network create -d macvlan --subnet=<SUBNET> --gateway=<GATEWAY> --ip-range=<IP_RANGE> -o parent=<PARENT> macvlan_local",
      );
      expect(r.stderr).toMatch(/SUBNET +your LAN/);
      expect(r.stderr).toContain("ip -4 route show default");
    } finally {
      s.cleanup();
    }
  });

  test("--dry-run with both networks present: the whole sequence, nothing run", () => {
    const s = stubbed();
    try {
      const r = s.run(["--dry-run"], { STUB_NETWORKS: "proxy macvlan_local", STUB_CONTAINER: "1" });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const compose = "docker compose -f compose.yaml -f compose.traefik.yaml";
      expect(dryRunLines(r.stdout)).toEqual([
        "git pull --ff-only",
        `${compose} build`,
        "docker stop ollama-gate",
        "docker rm ollama-gate",
        `${compose} up -d --build`,
        `${compose} ps`,
        "docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' ollama-gate   # repeated until it says healthy",
      ]);
      expect(r.stdout).toContain(`container user: ${s.owner} (the owner of ./status)`);
      expect(r.stdout).toContain("https://gate.example.test/");
      expect(r.stdout).toContain("docker logs -f ollama-gate");
      expect(s.calls()).toEqual([
        "docker compose version",
        "docker network inspect proxy",
        "docker network inspect macvlan_local",
        "docker ps -aq --filter name=^/ollama-gate$",
      ]);
      s.expectNoSecrets(r);
    } finally {
      s.cleanup();
    }
  });

  test("--dry-run falls back to docker-compose, and gives a root-owned status/ to the image's user", () => {
    const s = stubbed({ statusDir: false });
    try {
      const r = s.run(["--dry-run", "--no-pull"], { STUB_NETWORKS: "proxy macvlan_local", STUB_COMPOSE_PLUGIN: "0" });
      expect(r.code).toBe(0);
      const compose = "docker-compose -f compose.yaml -f compose.traefik.yaml";
      const asRoot = process.getuid?.() === 0;
      expect(dryRunLines(r.stdout)).toEqual([
        "mkdir -p status",
        // status/ does not exist yet, so whoever creates it owns it: the deploy hands it to uid 65532.
        asRoot ? "chown -R 65532:65532 status" : "sudo chown -R 65532:65532 status",
        `${compose} build`,
        `${compose} up -d --build`,
        `${compose} ps`,
        expect.stringMatching(/^docker inspect /),
      ]);
      expect(r.stdout).toContain("container user: 65532:65532 (the image's user, as root owns ./status)");
      expect(existsSync(join(s.dir, "status"))).toBe(false);
    } finally {
      s.cleanup();
    }
  });

  test("--dry-run with OLLAMA_GATE_UID/GID: hands status/ to that user", () => {
    const s = stubbed();
    try {
      writeFileSync(join(s.dir, "status", "status.json"), "{}");
      const r = s.run(["--dry-run", "--no-pull"], { STUB_NETWORKS: "proxy macvlan_local", OLLAMA_GATE_UID: "1000", OLLAMA_GATE_GID: "1001" });
      expect(r.code).toBe(0);
      const chown = "chown -R 1000:1001 status";
      expect(dryRunLines(r.stdout)[0]).toBe(process.getuid?.() === 0 ? chown : `sudo ${chown}`);
      expect(r.stdout).toContain("container user: 1000:1001 (OLLAMA_GATE_UID and OLLAMA_GATE_GID)");
      expect(s.run(["--dry-run"], { STUB_NETWORKS: "proxy macvlan_local", OLLAMA_GATE_UID: "0" }).stderr).toContain(
        "refusing to run the container as root",
      );
    } finally {
      s.cleanup();
    }
  });

  test("without --dry-run it runs the same commands (against the stubs) and waits for healthy", () => {
    const s = stubbed();
    try {
      const r = s.run([], { STUB_NETWORKS: "proxy macvlan_local", STUB_CONTAINER: "1", STUB_ALLOW_CHANGES: "1" });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const compose = "docker compose -f compose.yaml -f compose.traefik.yaml";
      expect(s.calls()).toEqual([
        "docker compose version",
        "git pull --ff-only",
        "docker network inspect proxy",
        "docker network inspect macvlan_local",
        `${compose} build [user ${s.owner}]`,
        "docker ps -aq --filter name=^/ollama-gate$",
        "docker stop ollama-gate",
        "docker rm ollama-gate",
        `${compose} up -d --build [user ${s.owner}]`,
        `${compose} ps [user ${s.owner}]`,
        "docker inspect --format {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}} ollama-gate",
      ]);
      expect(r.stdout).toContain("+ git pull --ff-only");
      expect(r.stdout).toContain("health: healthy");
      expect(r.stdout).toContain("ollama-gate is deployed: https://gate.example.test/");
      s.expectNoSecrets(r);
    } finally {
      s.cleanup();
    }
  });

  test("stops with a reason when .env is missing or has no SUBDOMINIO", () => {
    const s = stubbed({ env: false });
    try {
      const missing = s.run(["--dry-run"], { STUB_NETWORKS: "proxy macvlan_local" });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("no .env");
      writeFileSync(join(s.dir, ".env"), readFileSync(FIXTURE_ENV, "utf8").replace(/^SUBDOMINIO=.*$/m, "SUBDOMINIO="));
      const empty = s.run(["--dry-run"], { STUB_NETWORKS: "proxy macvlan_local" });
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain("SUBDOMINIO is empty");
      expect(s.calls()).toEqual([]);
      s.expectNoSecrets(empty);
    } finally {
      s.cleanup();
    }
  });

  test("rejects an unknown flag", () => {
    const s = stubbed();
    try {
      const r = s.run(["--frobnicate"], {});
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("unknown option: --frobnicate");
    } finally {
      s.cleanup();
    }
  });
});

/** Compose labels as a map, whether the tool printed a list or a map. */
function labelsOf(svc: { labels: string[] | Record<string, string> }): Record<string, string> {
  return Array.isArray(svc.labels) ? Object.fromEntries(svc.labels.map((l) => l.split(/=(.*)/s).slice(0, 2))) : svc.labels;
}

/** The commands a dry run printed, in order. */
function dryRunLines(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("[dry-run] "))
    .map((l) => l.slice("[dry-run] ".length));
}

const DOCKER_STUB = `#!/bin/sh
# A stand-in for docker: records each call and answers from the STUB_* variables. Changes are refused
# (exit 99) unless STUB_ALLOW_CHANGES=1, and even then nothing is done.
case "$1 $2" in
  "compose version")
    echo "docker compose version" >> "$STUB_LOG"
    [ "\${STUB_COMPOSE_PLUGIN:-1}" = 1 ] || { echo "docker: unknown command: docker compose" >&2; exit 1; }
    echo "Docker Compose version v2.0.0-stub"; exit 0 ;;
  "network inspect")
    echo "docker $*" >> "$STUB_LOG"
    for n in $STUB_NETWORKS; do [ "$n" = "$3" ] && { echo "[]"; exit 0; }; done
    echo "Error response from daemon: network $3 not found" >&2; exit 1 ;;
  "ps -aq")
    echo "docker $*" >> "$STUB_LOG"
    [ -n "\${STUB_CONTAINER:-}" ] && echo "0123456789ab"
    exit 0 ;;
  "inspect --format")
    echo "docker $*" >> "$STUB_LOG"
    echo healthy; exit 0 ;;
esac
if [ "$1" = compose ]; then echo "docker $* [user \${OLLAMA_GATE_UID:-}:\${OLLAMA_GATE_GID:-}]" >> "$STUB_LOG"
else echo "docker $*" >> "$STUB_LOG"; fi
[ "\${STUB_ALLOW_CHANGES:-}" = 1 ] && exit 0
echo "docker stub: refused a change in a dry run: docker $*" >&2
exit 99
`;

const COMPOSE_STUB = `#!/bin/sh
echo "docker-compose $* [user \${OLLAMA_GATE_UID:-}:\${OLLAMA_GATE_GID:-}]" >> "$STUB_LOG"
[ "\${STUB_ALLOW_CHANGES:-}" = 1 ] && exit 0
echo "docker-compose stub: refused a change in a dry run" >&2
exit 99
`;

const stubRefusing = (name: string) => `#!/bin/sh
echo "${name} $*" >> "$STUB_LOG"
[ "\${STUB_ALLOW_CHANGES:-}" = 1 ] && exit 0
echo "${name} stub: refused a change in a dry run" >&2
exit 99
`;

/**
 * A copy of deploy.sh and the compose files in a temp dir (so the real checkout is never touched), with
 * stub docker, docker-compose, git and sudo first on PATH and the fixture as .env.
 */
function stubbed(opts: { env?: boolean; statusDir?: boolean } = {}) {
  const { dir: base, cleanup } = tempDir("ollama-gate-deploy-");
  const dir = join(base, "checkout");
  const bin = join(base, "bin");
  const log = join(base, "calls.log");
  mkdirSync(dir);
  mkdirSync(bin);
  for (const f of ["deploy.sh", "compose.yaml", "compose.traefik.yaml"]) copyFileSync(join(ROOT, f), join(dir, f));
  chmodSync(join(dir, "deploy.sh"), 0o755);
  if (opts.env !== false) copyFileSync(FIXTURE_ENV, join(dir, ".env"));
  let owner = "";
  if (opts.statusDir !== false) {
    mkdirSync(join(dir, "status"));
    // As root, a status/ that belongs to an ordinary user (as in a checkout made by that user).
    if (process.getuid?.() === 0) chownSync(join(dir, "status"), 1234, 1234);
    const st = statSync(join(dir, "status"));
    owner = `${st.uid}:${st.gid}`;
  }
  const stubs = [
    ["docker", DOCKER_STUB],
    ["docker-compose", COMPOSE_STUB],
    ["git", stubRefusing("git")],
    ["sudo", stubRefusing("sudo")],
  ] as const;
  for (const [name, text] of stubs) {
    writeFileSync(join(bin, name), text, { mode: 0o755 });
  }
  writeFileSync(log, "");
  return {
    dir,
    /** uid:gid of status/ as created. */
    owner,
    run(args: string[], env: Record<string, string>) {
      const r = Bun.spawnSync(["bash", join(dir, "deploy.sh"), ...args], {
        // Run from elsewhere: deploy.sh must find its own directory.
        cwd: base,
        env: { PATH: `${bin}:/usr/bin:/bin`, STUB_LOG: log, ...env },
        stdout: "pipe",
        stderr: "pipe",
      });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    },
    calls: () => readFileSync(log, "utf8").split("\n").filter(Boolean),
    expectNoSecrets(r: { stdout: string; stderr: string }) {
      for (const secret of FIXTURE_SECRETS) expect(r.stdout + r.stderr).not.toContain(secret);
    },
    cleanup,
  };
}
