// Opening the connection to the broker: TCP, or TLS where the broker must prove its name before anything is sent
// (the password least of all). What happens on it is the caller's (client.ts), told through `on`.
import type { Socket } from "bun";

export interface Dial {
  host: string;
  port: number;
  tls: boolean;
  /** Authorities to trust instead of the system's (PEM), for tests; a gateway's users set NODE_EXTRA_CA_CERTS. */
  ca?: string;
}

export interface DialEvents {
  /** Ready to speak: connected, and over TLS the certificate checked. */
  ready(socket: Socket<undefined>): void;
  data(data: Uint8Array): void;
  drain(): void;
  closed(): void;
  /** Reported, the link goes on (the close, if any, follows). */
  error(err: Error): void;
  /** The attempt failed: the caller ends it. */
  failed(err: Error): void;
}

/** An IP literal is no server name to send (SNI) — the certificate is still checked against it. */
const isIp = (host: string) => /^[\d.]+$/.test(host) || host.includes(":");

/**
 * Why the broker's certificate is refused, or undefined: the authorities' verdict, then its name against `host`.
 * node:tls is loaded here, for mqtts:// only: it costs the process about 5 MB, which a gateway without TLS keeps.
 */
async function nameChecked(host: string, socket: Socket<undefined>, refused: Error | null): Promise<Error | undefined> {
  if (refused) return refused;
  try {
    const { checkServerIdentity } = await import("node:tls");
    return checkServerIdentity(host, socket.getPeerCertificate());
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Starts the attempt; `current()` false (the caller gave up on it) lets a late connection go. */
export function dial(d: Dial, on: DialEvents, current: () => boolean): void {
  // The certificate is checked against the system's authorities (and NODE_EXTRA_CA_CERTS), its name below.
  const tls = { rejectUnauthorized: true, ...(d.ca ? { ca: d.ca } : {}), ...(isIp(d.host) ? {} : { serverName: d.host }) };
  try {
    Bun.connect({
      hostname: d.host,
      port: d.port,
      ...(d.tls ? { tls } : {}),
      socket: {
        open: (socket) => {
          if (!current()) return void socket.terminate();
          if (!d.tls) on.ready(socket);
        },
        // A refused or abandoned TLS socket is cut here: the client knows of it only once it is ready.
        handshake: (socket, success, authorizationError) => {
          if (!current()) return void socket.terminate();
          void nameChecked(d.host, socket, success ? authorizationError : (authorizationError ?? new Error("the handshake failed"))).then(
            (refused) => {
              if (!current()) return void socket.terminate();
              if (!refused) return on.ready(socket);
              on.failed(new Error(`the broker's certificate is not trusted for ${d.host}: ${refused.message}`));
              socket.terminate(); // after: the failure is said before the close it brings
            },
          );
        },
        data: (_socket, data) => void (current() && on.data(data)),
        drain: () => void (current() && on.drain()),
        close: () => void (current() && on.closed()),
        error: (_socket, err) => void (current() && on.error(err)),
        connectError: (_socket, err) => void (current() && on.failed(err)),
      },
    }).catch((err: Error) => void (current() && on.failed(err)));
  } catch (err) {
    queueMicrotask(() => current() && on.failed(err instanceof Error ? err : new Error(String(err))));
  }
}
