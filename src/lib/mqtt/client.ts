// A small MQTT 5 client over Bun's sockets: connect (with a will and a packet size limit), publish at QoS 0,
// subscribe, keep the link alive, disconnect. It is what a bridge that publishes a few states and takes a few
// commands needs, and no more: a full client library took the gateway about 10 MB more of its 128 (README,
// "Benchmarks"). Input is bounded by the packet size asked of the server and a read rate; output by a cap (pipe.ts).
import type { Socket } from "bun";
import { type Dial, dial } from "./dial.ts";
import {
  type ConnectOptions,
  connectPacket,
  disconnectPacket,
  PacketType,
  pingPacket,
  pubackPacket,
  publishPacket,
  subscribePacket,
} from "./packets.ts";
import { Pipe } from "./pipe.ts";
import { connackReason, connackTerms, nextPacket, type Packet, readPublish, readSuback, refusalOf } from "./read.ts";

export interface MqttClientOptions extends ConnectOptions, Dial {
  connectTimeoutMs: number;
  /** Told the size of each chunk read: a flood of messages is garbage the caller may want collected. */
  onReceived?: (bytes: number) => void;
}

type Events = {
  connect: () => void;
  close: () => void;
  error: (err: Error) => void;
  message: (topic: string, payload: Buffer, packet: { retain: boolean }) => void;
};

/** What is read from the broker in one second at most: commands are words, states go the other way. */
const INPUT_BYTES_PER_S = 256 * 1024;
/** Bytes written but not yet taken by the socket: past this, the link is cut rather than memory grown. */
const MAX_PENDING_BYTES = 1024 * 1024;

export class MqttClient {
  connected = false;
  private socket: Socket<undefined> | null = null;
  private pipe: Pipe | null = null;
  private input = new Uint8Array(0);
  private readonly listeners: { [K in keyof Events]: Events[K][] } = { connect: [], close: [], error: [], message: [] };
  private timer: ReturnType<typeof setInterval> | null = null;
  private keepAliveMs = 0;
  private lastPing = 0;
  /** When the PINGREQ still unanswered went out; 0: none is. */
  private pingSentAt = 0;
  private serverMaxPacket = Number.POSITIVE_INFINITY;
  private subscribing = new Map<number, (err: Error | null) => void>();
  private nextId = 1;
  /** No attempt under way: connect() may start one. */
  private closedOnce = true;
  /** end() was called: what still arrives is not handled. */
  private ending = false;
  private generation = 0;
  private deadline: ReturnType<typeof setTimeout> | undefined;
  /** end()'s callbacks: called at the next close, then forgotten. */
  private onEnded: (() => void)[] = [];

  constructor(private readonly o: MqttClientOptions) {}

  on<K extends keyof Events>(event: K, listener: Events[K]): this {
    this.listeners[event].push(listener);
    return this;
  }

  /** Connects, unless an attempt is under way; success is the "connect" event, failure an "error" then a "close". */
  connect(): this {
    if (!this.closedOnce) return this;
    const gen = ++this.generation;
    this.closedOnce = false;
    this.ending = false;
    this.input = new Uint8Array(0);
    this.deadline = setTimeout(
      () => gen === this.generation && this.fail(new Error(`no answer from the broker within ${this.o.connectTimeoutMs} ms`)),
      this.o.connectTimeoutMs,
    );
    dial(
      this.o,
      {
        ready: (socket) => {
          this.socket = socket;
          this.pipe = new Pipe(socket, { maxPendingBytes: MAX_PENDING_BYTES, maxInputBytesPerS: INPUT_BYTES_PER_S });
          this.write(connectPacket(this.o));
        },
        data: (data) => void (!this.ending && this.received(data)),
        drain: () => this.pipe?.drain(),
        closed: () => this.closed(),
        error: (err) => this.emit("error", err),
        failed: (err) => this.fail(err),
      },
      () => gen === this.generation && !this.closedOnce,
    );
    return this;
  }

  /** Another attempt after a close (the caller's backoff decides when). */
  reconnect(): this {
    return this.connect();
  }

  /** At QoS 0: done once written (a message over the server's packet limit is not sent: it would cost the link). */
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }, callback?: (err?: Error) => void): this {
    if (!this.connected) callback?.(new Error("not connected"));
    else {
      const bytes = publishPacket(topic, payload, opts.retain);
      if (bytes.length > this.serverMaxPacket) callback?.(new Error(`a message of ${bytes.length} bytes, over the broker's limit`));
      else {
        this.write(bytes);
        callback?.();
      }
    }
    return this;
  }

  /** Called back once the broker has answered (its SUBACK): an error when it refused, as an ACL may. */
  subscribe(filter: string, _opts: { qos: 0 | 1 }, callback?: (err: Error | null) => void): this {
    if (!this.connected) callback?.(new Error("not connected"));
    else {
      const id = this.nextId;
      this.nextId = (this.nextId % 0xffff) + 1;
      this.subscribing.set(id, callback ?? (() => {}));
      this.write(subscribePacket(id, filter));
    }
    return this;
  }

  /** A normal disconnection (the server drops the will); `force` cuts the socket without one. */
  end(force = false, _opts: object = {}, callback?: () => void): this {
    this.ending = true;
    if (callback) this.onEnded.push(callback);
    const socket = this.socket;
    if (!socket) {
      this.closed();
      return this;
    }
    if (!force && this.connected) this.write(disconnectPacket());
    if (force) {
      // As fail() does: closed now, whatever the socket then reports.
      this.closed();
      socket.terminate();
    } else socket.end();
    return this;
  }

  private received(data: Uint8Array): void {
    this.o.onReceived?.(data.length);
    this.pipe?.read(data.length);
    let buf = data;
    if (this.input.length > 0) {
      buf = new Uint8Array(this.input.length + data.length);
      buf.set(this.input, 0);
      buf.set(data, this.input.length);
    }
    try {
      // Until the input is used up, or a packet ended the link (a refusal, a DISCONNECT).
      for (
        let next = nextPacket(buf, this.o.maximumPacketSize);
        next && this.socket && !this.ending;
        next = nextPacket(buf, this.o.maximumPacketSize)
      ) {
        buf = buf.subarray(next.used);
        this.handle(next.packet);
      }
    } catch (err) {
      return this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    // A copy of what is left (a Buffer's slice would be a view), so the chunk it came in is not kept for a few bytes.
    this.input = buf.length === 0 ? new Uint8Array(0) : Uint8Array.prototype.slice.call(buf);
  }

  private handle(p: Packet): void {
    if (p.type === PacketType.connack) this.acknowledged(p);
    else if (!this.connected) this.fail(new Error(`the broker sent packet type ${p.type} before accepting the connection`));
    else if (p.type === PacketType.publish) {
      const m = readPublish(p);
      if (m.qos === 1 && m.id !== undefined) this.write(pubackPacket(m.id));
      this.emit("message", m.topic, Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength), { retain: m.retain });
    } else if (p.type === PacketType.suback) {
      const { id, reason } = readSuback(p);
      const callback = this.subscribing.get(id);
      this.subscribing.delete(id);
      callback?.(reason >= 0x80 ? new Error(`the broker refused the subscription: ${refusalOf(reason)}`) : null);
    } else if (p.type === PacketType.pingresp) this.pingSentAt = 0;
    else if (p.type === PacketType.disconnect) this.fail(new Error(`the broker disconnected (reason 0x${(p.body[0] ?? 0).toString(16)})`));
  }

  /** The CONNACK: refused (any code but 0), or the link is up on the server's terms. A second one ends it. */
  private acknowledged(p: Packet): void {
    if (this.connected) return this.fail(new Error("a second CONNACK"));
    clearTimeout(this.deadline);
    const reason = connackReason(p);
    if (reason !== 0) return this.fail(new Error(`Connection refused: ${refusalOf(reason)}`));
    const terms = connackTerms(p);
    // The server's keep-alive, when it names one, is the one to keep (MQTT 5, 3.2.2.3.14).
    this.keepAliveMs = (terms.keepAliveS ?? this.o.keepaliveS) * 1000;
    // A broker that keeps no retained message would refuse every state the bridge sends (MQTT 5, 3.2.2.3.5).
    if (terms.retainAvailable === false) return this.fail(new Error("the broker keeps no retained messages, which Home Assistant's discovery needs"));
    if (terms.maximumPacketSize === 0) return this.fail(new Error("the broker asked for a maximum packet size of 0"));
    this.serverMaxPacket = terms.maximumPacketSize ?? Number.POSITIVE_INFINITY;
    this.connected = true;
    this.pingSentAt = 0;
    this.lastPing = Date.now();
    if (this.keepAliveMs > 0) {
      this.timer = setInterval(() => this.keepAlive(), Math.min(this.keepAliveMs / 4, 5000));
      this.timer.unref?.();
    }
    this.emit("connect");
  }

  /** A PINGREQ every keep-alive; its answer missing a whole keep-alive later, the link is dead, whatever was sent meanwhile. */
  private keepAlive(): void {
    const now = Date.now();
    if (this.pingSentAt > 0) {
      if (now - this.pingSentAt > this.keepAliveMs) this.fail(new Error("the broker stopped answering"));
      return;
    }
    // At three quarters of it: a tick late still pings within the keep-alive (MQTT 5, 3.1.2.10).
    if (now - this.lastPing < (this.keepAliveMs * 3) / 4) return;
    this.lastPing = now;
    this.pingSentAt = now;
    this.write(pingPacket());
  }

  private write(bytes: Uint8Array): void {
    if (this.pipe && !this.pipe.write(bytes)) this.fail(new Error("the broker does not read what is sent to it"));
  }

  /** Once per attempt: the error said, the socket cut. */
  private fail(err: Error): void {
    if (this.closedOnce) return;
    this.emit("error", err);
    const socket = this.socket;
    this.closed();
    socket?.terminate();
  }

  /** Once per attempt, whichever way it ended. */
  private closed(): void {
    if (this.closedOnce) return this.callEnded();
    this.closedOnce = true;
    clearTimeout(this.deadline);
    this.connected = false;
    this.socket = null;
    this.pipe?.close();
    this.pipe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const callback of this.subscribing.values()) callback(new Error("the connection closed"));
    this.subscribing.clear();
    this.callEnded();
    this.emit("close");
  }

  private callEnded(): void {
    const ended = this.onEnded;
    this.onEnded = [];
    for (const l of ended) l();
  }

  private emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const l of this.listeners[event]) (l as (...a: Parameters<Events[K]>) => void)(...args);
  }
}
