// A small MQTT 5 client over Bun's sockets: connect (with a will and a packet size limit), publish at QoS 0,
// subscribe, keep the link alive, disconnect. It is what a bridge that publishes a few states and takes a few
// commands needs, and no more: loading a full client library cost the gateway about 15 MB of its 128.
// Its input is bounded by the maximum packet size it asks of the server; its output by MAX_PENDING_BYTES.
import type { Socket } from "bun";
import {
  type ConnectOptions,
  connackReason,
  connectPacket,
  disconnectPacket,
  nextPacket,
  type Packet,
  PacketType,
  pingPacket,
  pubackPacket,
  publishPacket,
  readPublish,
  refusalOf,
  subscribePacket,
} from "./packets.ts";
import { Pipe } from "./pipe.ts";

export interface MqttClientOptions extends ConnectOptions {
  host: string;
  port: number;
  tls: boolean;
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
  private lastSent = 0;
  private awaitingPong = false;
  private nextId = 1;
  private closedOnce = true;
  private generation = 0;
  private deadline: ReturnType<typeof setTimeout> | undefined;
  /** end()'s callbacks: called at the next close, then forgotten. */
  private onEnded: (() => void)[] = [];

  constructor(private readonly o: MqttClientOptions) {}

  on<K extends keyof Events>(event: K, listener: Events[K]): this {
    this.listeners[event].push(listener);
    return this;
  }

  /** Connects; success is the "connect" event, failure an "error" then a "close". */
  connect(): this {
    const gen = ++this.generation;
    const mine = () => gen === this.generation;
    this.closedOnce = false;
    this.input = new Uint8Array(0);
    this.deadline = setTimeout(
      () => mine() && this.fail(new Error(`no answer from the broker within ${this.o.connectTimeoutMs} ms`)),
      this.o.connectTimeoutMs,
    );
    Bun.connect({
      hostname: this.o.host,
      port: this.o.port,
      ...(this.o.tls ? { tls: { serverName: this.o.host } } : {}),
      socket: {
        open: (socket) => {
          // An attempt given up on (its deadline passed, or the client ended) that connects late is let go.
          if (!mine() || this.closedOnce) return void socket.terminate();
          this.socket = socket;
          this.pipe = new Pipe(socket, { maxPendingBytes: MAX_PENDING_BYTES, maxInputBytesPerS: INPUT_BYTES_PER_S });
          this.write(connectPacket(this.o));
        },
        data: (_socket, data) => void (mine() && this.received(data)),
        drain: () => void (mine() && this.pipe?.drain()),
        close: () => void (mine() && this.closed()),
        error: (_socket, err) => void (mine() && this.emit("error", err)),
        connectError: (_socket, err) => void (mine() && this.fail(err)),
      },
    }).catch((err: Error) => void (mine() && this.fail(err)));
    return this;
  }

  /** Another attempt after a close (the caller's backoff decides when). */
  reconnect(): this {
    if (this.closedOnce) this.connect();
    return this;
  }

  publish(topic: string, payload: string, _opts: { qos: 0 | 1; retain: boolean }, callback?: (err?: Error) => void): this {
    if (!this.connected) callback?.(new Error("not connected"));
    else {
      this.write(publishPacket(topic, payload, _opts.retain));
      callback?.();
    }
    return this;
  }

  subscribe(filter: string, _opts: { qos: 0 | 1 }, callback?: (err: Error | null) => void): this {
    if (!this.connected) callback?.(new Error("not connected"));
    else {
      this.write(subscribePacket(this.nextId, filter));
      this.nextId = (this.nextId % 0xffff) + 1;
      callback?.(null);
    }
    return this;
  }

  /** A normal disconnection (the server drops the will); `force` cuts the socket without one. */
  end(force = false, _opts: object = {}, callback?: () => void): this {
    if (callback) this.onEnded.push(callback);
    const socket = this.socket;
    if (!socket) {
      this.closed();
      return this;
    }
    if (!force && this.connected) this.write(disconnectPacket());
    if (force) socket.terminate();
    else socket.end();
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
      for (let next = nextPacket(buf, this.o.maximumPacketSize); next && this.socket; next = nextPacket(buf, this.o.maximumPacketSize)) {
        buf = buf.subarray(next.used);
        this.handle(next.packet);
      }
    } catch (err) {
      return this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    // A copy of what is left, so the chunk it came in is not kept whole for a few bytes.
    this.input = buf.length === 0 ? new Uint8Array(0) : buf.slice();
  }

  private handle(p: Packet): void {
    if (p.type === PacketType.connack) {
      clearTimeout(this.deadline);
      const reason = connackReason(p);
      if (reason >= 0x80) return this.fail(new Error(`Connection refused: ${refusalOf(reason)}`));
      this.connected = true;
      this.timer = setInterval(() => this.keepAlive(), 1000);
      this.timer.unref?.();
      this.emit("connect");
    } else if (p.type === PacketType.publish) {
      const m = readPublish(p);
      if (m.qos === 1 && m.id !== undefined) this.write(pubackPacket(m.id));
      this.emit("message", m.topic, Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength), { retain: m.retain });
    } else if (p.type === PacketType.pingresp) this.awaitingPong = false;
    else if (p.type === PacketType.disconnect) this.fail(new Error(`the broker disconnected (reason 0x${(p.body[0] ?? 0).toString(16)})`));
  }

  /** A PINGREQ when nothing was sent for the keep-alive; no answer by the next one, and the link is dead. */
  private keepAlive(): void {
    if (Date.now() - this.lastSent < this.o.keepaliveS * 1000) return;
    if (this.awaitingPong) return this.fail(new Error("the broker stopped answering"));
    this.awaitingPong = true;
    this.write(pingPacket());
  }

  private write(bytes: Uint8Array): void {
    if (!this.pipe) return;
    this.lastSent = Date.now();
    if (!this.pipe.write(bytes)) this.fail(new Error("the broker does not read what is sent to it"));
  }

  private fail(err: Error): void {
    this.emit("error", err);
    const socket = this.socket;
    this.closed();
    socket?.terminate();
  }

  /** Once per attempt, whichever way it ended. */
  private closed(): void {
    if (this.closedOnce) {
      this.callEnded();
      return;
    }
    this.closedOnce = true;
    clearTimeout(this.deadline);
    this.connected = false;
    this.socket = null;
    this.pipe?.close();
    this.pipe = null;
    this.awaitingPong = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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
