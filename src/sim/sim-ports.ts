import dgram from "node:dgram";
import { createServer } from "node:net";

/**
 * The fixed loopback ports of `npm run sim`, counted from one base port, so that the configuration it writes
 * stays true from one run to the next. The default base sits below the kernel's ephemeral range (32768 and
 * up), where an outgoing connection's local port could otherwise take one of them.
 */
export const DEFAULT_SIM_BASE_PORT = 17400;

export interface SimPorts {
  /** Where the gateway started with the written configuration listens (PORT in its .env): the sim does not bind it. */
  gateway: number;
  bigOllama: number;
  bigSsh: number;
  /** UDP: big's Wake-on-LAN listener. */
  bigWol: number;
  smallOllama: number;
  plug: number;
}

export function simPorts(base: number): SimPorts {
  return { gateway: base, bigOllama: base + 1, bigSsh: base + 2, bigWol: base + 3, smallOllama: base + 4, plug: base + 5 };
}

/** The highest base port whose six ports all fit below 65536. */
export const MAX_SIM_BASE_PORT = 65535 - 5;

/**
 * The sim's own ports that something else holds, each as "17401/tcp (big's Ollama)". The machines bind their
 * SSH and Ollama ports only while "on", so they are checked now rather than failing at the first boot.
 * The gateway's port is not checked: the gateway started with the written configuration may hold it already.
 */
export async function busySimPorts(p: SimPorts): Promise<string[]> {
  const tcp: [number, string][] = [
    [p.bigOllama, "big's Ollama"],
    [p.bigSsh, "big's SSH"],
    [p.smallOllama, "small's Ollama"],
    [p.plug, "the smart plug"],
  ];
  const busy: string[] = [];
  for (const [port, what] of tcp) if (!(await canBindTcp(port))) busy.push(`${port}/tcp (${what})`);
  if (!(await canBindUdp(p.bigWol))) busy.push(`${p.bigWol}/udp (big's Wake-on-LAN listener)`);
  return busy;
}

function canBindTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Without SO_REUSEADDR, so that a listener that set it (another sim's) still makes the bind fail. */
function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: "udp4", reuseAddr: false });
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}
