import dgram from "node:dgram";
import { macFromMagicPacket } from "../lib/mac.ts";

export interface ReceivedPacket {
  bytes: Buffer;
  mac: string | null;
  from: string;
}

/** A UDP socket that hears magic packets, as a network card with Wake-on-LAN enabled would. */
export class WolListener {
  readonly received: ReceivedPacket[] = [];
  private socket?: dgram.Socket;

  constructor(private readonly onPacket: (p: ReceivedPacket) => void) {}

  /** Binds to the address given (loopback by default; 0.0.0.0 also hears 127.255.255.255 broadcasts). */
  async listen(port: number, address = "127.0.0.1"): Promise<number> {
    const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
    this.socket = socket;
    socket.on("message", (bytes, rinfo) => {
      const packet = { bytes, mac: macFromMagicPacket(bytes), from: rinfo.address };
      this.received.push(packet);
      this.onPacket(packet);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, address, () => resolve());
    });
    return socket.address().port;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
