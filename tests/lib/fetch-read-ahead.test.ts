// Why the proxy has its own HTTP/1.1 client (src/lib/http1): Bun's fetch reads an upstream's answer into the
// process ahead of its reader, whether or not anyone reads its body, so every stalled client of the gateway
// would hold that much of its stream in the gateway's memory. When a Bun release stops doing that, this test
// fails and says so: then the own client may give way to fetch (tests/lib/http1.test.ts says what else it does).
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { TCPSocketListener } from "bun";
import { Http1Client } from "../../src/lib/http1/client.ts";

const KB = 1024;
/** More than the upstream can get into the kernel's buffers on loopback, so only a reader stops it. */
const TOTAL = 256 * 1048576;

const listeners: TCPSocketListener<undefined>[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) l.stop(true);
});

/** An upstream that answers one large body as fast as its socket takes it, and counts what the socket took. */
function firehose() {
  const state = { accepted: 0 };
  const chunk = new Uint8Array(65536).fill(97);
  const pump = (sock: { write: (b: Uint8Array) => number }) => {
    while (state.accepted < TOTAL) {
      const n = sock.write(chunk);
      if (n > 0) state.accepted += n;
      if (n < chunk.length) return; // the kernel's buffers are full: on with the next drain
    }
  };
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(sock) {
        sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: ${TOTAL}\r\n\r\n`);
        pump(sock);
      },
      drain: pump,
    },
  });
  listeners.push(listener);
  return { url: `http://127.0.0.1:${listener.port}/`, port: listener.port, state };
}

/**
 * Bytes of the answer that are in the client process: what the upstream's socket took, less what still waits
 * in the kernel — the upstream's send queue and the client's receive queue (/proc/net/tcp, tx_queue:rx_queue
 * of the two ends of the one established connection to `port`).
 */
function inProcess(port: number, accepted: number): number {
  let queued = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").trim().split("\n").slice(1)) {
    const [, local, remote, state, queues] = line.trim().split(/\s+/);
    if (state !== "01") continue; // established only
    const [tx, rx] = queues!.split(":").map((h) => Number.parseInt(h, 16));
    if (Number.parseInt(local!.split(":")[1]!, 16) === port) queued += tx!; // the upstream's end
    if (Number.parseInt(remote!.split(":")[1]!, 16) === port) queued += rx!; // the client's end
  }
  return accepted - queued;
}

/** What the upstream managed to send, once its count has not grown for `quietMs` (or `deadlineMs` passed). */
async function settled(state: { accepted: number }, quietMs = 500, deadlineMs = 10_000): Promise<number> {
  const end = Date.now() + deadlineMs;
  let [last, since] = [-1, Date.now()];
  while (Date.now() < end && state.accepted < TOTAL) {
    if (state.accepted !== last) [last, since] = [state.accepted, Date.now()];
    else if (Date.now() - since >= quietMs) break;
    await Bun.sleep(20);
  }
  return state.accepted;
}

test("Bun's fetch reads an unread answer into the process well past what the proxy's own client holds", async () => {
  const viaFetch = firehose();
  const stop = new AbortController();
  const res = await fetch(viaFetch.url, { signal: stop.signal });
  expect(res.status).toBe(200); // its body is never read
  const fetchHolds = inProcess(viaFetch.port, await settled(viaFetch.state));

  const viaClient = firehose();
  const readAheadBytes = 32 * KB;
  const answer = await new Http1Client(viaClient.url, { readAheadBytes }).request({ method: "GET", target: "/", headers: [] });
  expect(answer.status).toBe(200);
  const clientHolds = inProcess(viaClient.port, await settled(viaClient.state));

  // Both kept referenced until measured: a Response collected meanwhile would close its connection.
  expect(res.bodyUsed).toBe(false);
  stop.abort();
  await (answer.body as ReadableStream<Uint8Array>).cancel();

  const figures = { bun: Bun.version, fetchKB: Math.round(fetchHolds / KB), ownClientKB: Math.round(clientHolds / KB) };
  // The own client holds its read-ahead and at most one read of the socket (Bun reads up to 512 KB at once).
  expect({ ...figures, ownClientBounded: clientHolds <= readAheadBytes + 512 * KB }).toEqual({ ...figures, ownClientBounded: true });
  // How far each reads ahead, as measured: the README, "Benchmarks".
  if (fetchHolds <= 2 * clientHolds) {
    throw new Error(
      `Bun ${Bun.version}'s fetch no longer reads an unread answer well ahead (${JSON.stringify(figures)}): the proxy's own ` +
        "HTTP/1.1 client (src/lib/http1) may give way to fetch, if fetch also keeps what tests/lib/http1.test.ts asks of it",
    );
  }
});
