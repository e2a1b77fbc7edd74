import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * A free loopback TCP port for the simulated machine, which needs its ports fixed before it "boots" and
 * leaves them unbound while it is off. It is chosen below the kernel's ephemeral range: a port from that
 * range (what binding port 0 gives) may meanwhile become the local port of some outgoing connection —
 * the gateway keeps connections to Ollama alive — and then the machine cannot boot on it.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  for (let i = 0; i < 50; i++) {
    const port = below - 1 - Math.floor(Math.random() * Math.min(12_000, below - 10_000));
    // Free now is not enough: a port handed out a moment ago may not be bound yet (a machine takes its
    // SSH and Ollama ports before it boots), so it would pass the test twice.
    if (!handedOut.has(port) && (await canBind(port))) return remember(port);
  }
  return bindAny(); // a crowded machine: any free port, as before
}

/** The ports this process handed out lately, oldest first: none is given twice while it may still be in use. */
const handedOut = new Set<number>();
function remember(port: number): number {
  handedOut.add(port);
  if (handedOut.size > 2000) handedOut.delete(handedOut.values().next().value!);
  return port;
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32768;
  } catch {
    return 32768;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function bindAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
