// Raw TCP clients, for what fetch refuses to send: broken framing, half-sent bodies, readers that never read.

import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

/** A piece to send: bytes, or a pause in milliseconds. */
export type Part = string | Uint8Array | number;

/**
 * One connection that records the first thing the server answers (its status code), or how the
 * connection ended without an answer: "closed", "reset", "timeout", "garbled", or "left" when we hung up.
 */
export class RawConn {
  readonly sock: Socket;
  readonly result: Promise<string>;
  /** true once connected; false if the exchange ended first. */
  readonly connected: Promise<boolean>;
  private resolve!: (r: string) => void;
  private head = "";
  private settled = false;
  /** When the exchange ended (performance.now()), for "how long until the server gave up". */
  settledAt = 0;
  private readonly timer: ReturnType<typeof setTimeout>;

  /** `from`: the loopback address to connect from (another client address, as the gateway's throttles count them). */
  constructor(port: number, timeoutMs: number, from?: string) {
    this.result = new Promise((r) => (this.resolve = r));
    this.sock = connect({ host: "127.0.0.1", port, ...(from ? { localAddress: from } : {}) });
    this.sock.setNoDelay(true);
    this.timer = setTimeout(() => this.settle(this.head ? "garbled" : "timeout"), timeoutMs);
    this.sock.on("data", (d: Buffer) => this.onData(d));
    this.sock.on("error", (e: NodeJS.ErrnoException) =>
      this.settle(e.code === "ECONNRESET" || e.code === "EPIPE" ? "reset" : `err-${e.code ?? "?"}`),
    );
    this.sock.on("close", () => this.settle(this.head ? "garbled" : "closed"));
    this.connected = new Promise((r) => {
      this.sock.once("connect", () => r(true));
      void this.result.then(() => r(false));
    });
  }

  get open(): boolean {
    return !this.settled;
  }

  private onData(d: Buffer) {
    if (this.head.length < 1024) this.head += d.toString("latin1", 0, 1024);
    // An interim answer (100 Continue) is not the answer: look past it for the final status line.
    for (;;) {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(this.head);
      if (!m) return void (this.head.length >= 12 && this.settle("garbled"));
      if (!m[1]!.startsWith("1")) return this.settle(m[1]!);
      const end = this.head.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.head.slice(end + 4);
    }
  }

  /** Ends the exchange with this outcome (the first one wins) and drops the connection. */
  settle(outcome: string): void {
    if (this.settled) return;
    this.settled = true;
    this.settledAt = performance.now();
    clearTimeout(this.timer);
    this.sock.destroy();
    this.resolve(outcome);
  }

  /** Writes with backpressure; false once the exchange has ended (the server answered or hung up). */
  async write(data: string | Uint8Array): Promise<boolean> {
    if (this.settled) return false;
    if (!this.sock.write(data)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.sock.off("drain", done);
          this.sock.off("close", done);
          resolve();
        };
        this.sock.on("drain", done);
        this.sock.on("close", done);
      });
    }
    return !this.settled;
  }
}

/** Sends the parts in order; with `leave`, hangs up right after instead of waiting for the answer. */
export async function rawSend(port: number, parts: Part[], opts: { timeoutMs: number; leave?: boolean; from?: string }): Promise<string> {
  const c = new RawConn(port, opts.timeoutMs, opts.from);
  for (const p of parts) {
    if (typeof p === "number") await Bun.sleep(p);
    else if (!(await c.write(p))) break;
  }
  if (opts.leave) c.settle("left");
  return c.result;
}

const FILL = new Uint8Array(64 * 1024).fill(0x61); // "aaaa…"

/**
 * Uploads `prefix + a…a + suffix` (`bytes` in all) after `head`, chunked or not, and stops as soon as
 * the server answers or hangs up: a gateway that refuses early should not have to swallow the rest.
 */
export async function rawUpload(
  port: number,
  head: string,
  prefix: string,
  suffix: string,
  bytes: number,
  chunked: boolean,
  timeoutMs: number,
): Promise<string> {
  const c = new RawConn(port, timeoutMs);
  const piece = async (data: string | Uint8Array) => {
    const len = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    if (!chunked) return c.write(data);
    return (await c.write(`${len.toString(16)}\r\n`)) && (await c.write(data)) && c.write("\r\n");
  };
  let ok = (await c.write(head)) && (await piece(prefix));
  for (let left = bytes - prefix.length - suffix.length; ok && left > 0; left -= FILL.length) {
    ok = await piece(FILL.subarray(0, Math.min(left, FILL.length)));
  }
  if (ok) ok = await piece(suffix);
  if (ok && chunked) await c.write("0\r\n\r\n");
  return c.result;
}

export interface TcpEntry {
  localPort: number;
  remotePort: number;
  /** Kernel state, hex as in /proc/net/tcp: 01 ESTABLISHED, 04 FIN_WAIT1, 08 CLOSE_WAIT, … */
  state: string;
  txQueue: number;
  rxQueue: number;
}

/** Loopback IPv4 TCP sockets, read from /proc/net/tcp: the kernel's view, whatever either side's runtime buffers. */
export function tcpTable(): TcpEntry[] {
  const rows = readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1);
  const out: TcpEntry[] = [];
  for (const row of rows) {
    const f = row.trim().split(/\s+/);
    if (f.length < 5) continue;
    const [tx, rx] = f[4]!.split(":");
    out.push({
      localPort: parseInt(f[1]!.split(":")[1]!, 16),
      remotePort: parseInt(f[2]!.split(":")[1]!, 16),
      state: f[3]!,
      txQueue: parseInt(tx!, 16),
      rxQueue: parseInt(rx!, 16),
    });
  }
  return out;
}

/** The gateway's side of our connections that it still holds open (ESTABLISHED, or CLOSE_WAIT: we closed, it did not). */
export function heldByServer(serverPort: number, clientPorts: Set<number>): TcpEntry[] {
  return tcpTable().filter((e) => e.localPort === serverPort && clientPorts.has(e.remotePort) && (e.state === "01" || e.state === "08"));
}
