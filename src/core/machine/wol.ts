import { magicPacket } from "../../lib/mac.ts";

export interface WolTarget {
  mac: string;
  address: string;
  port: number;
}

/** Sends one magic packet over UDP with broadcast enabled; resolves once the datagram has left the socket. */
export async function sendMagicPacket(target: WolTarget): Promise<void> {
  const packet = magicPacket(target.mac);
  // Loaded when a machine is woken, not at start: a gateway that never wakes anything does not pay for it.
  const { default: dgram } = await import("node:dgram");
  const socket = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, () => {
        socket.setBroadcast(true);
        socket.send(packet, target.port, target.address, (err) => (err ? reject(err) : resolve()));
      });
    });
  } finally {
    socket.close();
  }
}
