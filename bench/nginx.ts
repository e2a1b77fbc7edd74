import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv } from "./lib/env.ts";
import { type Child, freePort, run, start, waitForPort } from "./lib/launch.ts";

/** nginx may live in /usr/sbin, which is not on every user's PATH. */
export function findNginx(): string | null {
  return Bun.which("nginx", { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/usr/local/sbin:/sbin` });
}

export async function nginxVersion(bin: string): Promise<string> {
  const { stderr } = await run([bin, "-v"], 5000);
  return stderr.trim().replace(/^nginx version:\s*/, "");
}

/** The reference proxy, tuned the way one would put it in front of a streaming API. */
function config(dir: string, port: number, upstreamPort: number, modules: string): string {
  // Builds without these modules reject their temp-path directives; builds with them would otherwise use /var/lib/nginx.
  const optionalTemps = ["fastcgi", "uwsgi", "scgi"]
    .filter((m) => !modules.includes(`--without-http_${m}_module`))
    .map((m) => `  ${m}_temp_path ${dir}/tmp/${m};`)
    .join("\n");
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
${optionalTemps}
  # Bun never closes a keep-alive connection after a request count, so the reference should not either.
  keepalive_requests 1000000;
  upstream ollama {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://ollama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`;
}

export async function startNginx(bin: string, dir: string, upstreamPort: number): Promise<{ child: Child; port: number }> {
  mkdirSync(join(dir, "tmp"), { recursive: true });
  // mkdtemp makes the dir 0700; as root, nginx's workers run as nobody and must reach the temp paths inside it.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "tmp"), 0o755);
  const { stderr: modules } = await run([bin, "-V"], 5000);
  const port = freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, config(dir, port, upstreamPort, modules));
  // -e: otherwise nginx first opens its compiled-in error log, outside the temp dir.
  const { child } = await start("nginx", [bin, "-p", dir, "-e", join(dir, "error.log"), "-c", conf, "-g", "daemon off;"], {
    env: childEnv({}),
    logFile: join(dir, "stdout.log"),
  });
  await waitForPort(port, child);
  return { child, port };
}
