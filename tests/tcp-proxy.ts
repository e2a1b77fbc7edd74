// A TCP proxy on loopback that can be paused, for a network cut between one client and its server: while paused
// nothing passes either way (what was sent waits, as TCP would hold it), and on resume it all goes on.
import type { Socket } from "bun";

export interface PausableProxy {
  port: number;
  pause(): void;
  resume(): void;
  close(): void;
}

type Side = { peer?: Socket<Side>; held: Uint8Array[] };

export async function pausableProxy(targetPort: number): Promise<PausableProxy> {
  let paused = false;
  const sockets = new Set<Socket<Side>>();
  const pass = (from: Socket<Side>, data: Uint8Array) => {
    const to = from.data.peer;
    if (paused || !to) from.data.held.push(data.slice());
    else to.write(data);
  };
  const handlers = {
    data: pass,
    close: (s: Socket<Side>) => {
      sockets.delete(s);
      s.data.peer?.end();
    },
    error: () => {},
  };
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      ...handlers,
      open: (client) => {
        client.data = { held: [] };
        sockets.add(client);
        void Bun.connect<Side>({
          hostname: "127.0.0.1",
          port: targetPort,
          data: { peer: client, held: [] },
          socket: {
            ...handlers,
            open: (upstream) => {
              sockets.add(upstream);
              client.data.peer = upstream;
              if (!paused) for (const d of client.data.held.splice(0)) upstream.write(d);
            },
          },
        }).catch(() => client.end());
      },
    },
  });
  return {
    port: server.port,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const s of sockets) for (const d of s.data.held.splice(0)) s.data.peer?.write(d);
    },
    close: () => {
      for (const s of sockets) s.terminate();
      server.stop(true);
    },
  };
}
