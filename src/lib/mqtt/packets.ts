// The few MQTT 5 packets a client that publishes states and takes commands needs, written as bytes (OASIS MQTT
// Version 5.0, section 3); read.ts reads those it is sent.

export const PacketType = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  subscribe: 8,
  suback: 9,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
} as const;

/** Property identifiers (section 2.2.2.2) this client writes. */
const MAXIMUM_PACKET_SIZE = 0x27;

const enc = new TextEncoder();

/** A Variable Byte Integer (1 to 4 bytes, 7 bits each). */
export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 128;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A UTF-8 string or binary data: its length on two bytes, then its bytes. */
function field(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === "string" ? enc.encode(value) : value;
  if (bytes.length > 0xffff) throw new RangeError("an MQTT string or binary field holds at most 65,535 bytes");
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** A whole packet: the fixed header (type, flags, remaining length) before its parts. */
function packet(type: number, flags: number, parts: (Uint8Array | number[])[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const head = [(type << 4) | flags, ...varint(length)];
  const out = new Uint8Array(head.length + length);
  out.set(head, 0);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface ConnectOptions {
  clientId: string;
  keepaliveS: number;
  username?: string;
  password?: string;
  /** The largest packet the server may send this client. */
  maximumPacketSize: number;
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
}

export function connectPacket(o: ConnectOptions): Uint8Array {
  let flags = 0x02; // clean start
  if (o.will) flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
  if (o.password !== undefined) flags |= 0x40;
  if (o.username !== undefined) flags |= 0x80;
  const properties = [MAXIMUM_PACKET_SIZE, ...u32(o.maximumPacketSize)];
  const parts: (Uint8Array | number[])[] = [field("MQTT"), [5, flags, ...u16(o.keepaliveS)], [...varint(properties.length), ...properties]];
  parts.push(field(o.clientId));
  if (o.will) parts.push([0], field(o.will.topic), field(o.will.payload)); // no will properties
  if (o.username !== undefined) parts.push(field(o.username));
  if (o.password !== undefined) parts.push(field(o.password));
  return packet(PacketType.connect, 0, parts);
}

/** A QoS 0 PUBLISH: no packet identifier, no properties. */
export function publishPacket(topic: string, payload: string, retain: boolean): Uint8Array {
  return packet(PacketType.publish, retain ? 1 : 0, [field(topic), [0], enc.encode(payload)]);
}

/**
 * A SUBSCRIBE of one filter at QoS 0: Retain Handling 2 (the messages the broker keeps on it are not sent when
 * subscribing: a command is not replayed at each connect) and Retain As Published (one published with retain now
 * arrives flagged so, and the caller may refuse it).
 */
export function subscribePacket(id: number, filter: string): Uint8Array {
  return packet(PacketType.subscribe, 0x02, [u16(id), [0], field(filter), [0x20 | 0x08]]);
}

export const pingPacket = (): Uint8Array => Uint8Array.of(PacketType.pingreq << 4, 0);
/** Reason 0x00, a normal disconnection: the server then drops the will. */
export const disconnectPacket = (): Uint8Array => Uint8Array.of(PacketType.disconnect << 4, 0);

/** The PUBACK a QoS 1 message asks for. */
export const pubackPacket = (id: number): Uint8Array => Uint8Array.of(PacketType.puback << 4, 2, id >> 8, id & 0xff);
