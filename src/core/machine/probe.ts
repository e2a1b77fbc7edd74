export interface ProbeResult {
  ok: boolean;
  ms: number;
  error?: string;
}

/** Opens a TCP connection and closes it at once: "does anything listen there within timeoutMs?" */
export async function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, ms: elapsed(), error: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const connect = Bun.connect({
    hostname: host,
    port,
    socket: { data() {}, error() {} },
  }).then(
    (socket) => {
      socket.end();
      return { ok: true, ms: elapsed() } satisfies ProbeResult;
    },
    (err: Error) => ({ ok: false, ms: elapsed(), error: err.message || String(err) }),
  );
  try {
    // A connect that completes after the timeout still ends its socket in the handler above.
    return await Promise.race([connect, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
