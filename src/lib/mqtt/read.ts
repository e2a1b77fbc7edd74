// The packets a server sends this client, read from bytes (OASIS MQTT Version 5.0, section 3). Nothing is kept
// between calls: the client (client.ts) cuts its input into packets with `nextPacket` and reads each by its type.
const dec = new TextDecoder();

export interface Packet {
  type: number;
  flags: number;
  body: Uint8Array;
}

/**
 * The first whole packet in `buf`, and the bytes it took; null while more bytes are needed. Throws on a
 * remaining length past `max` or a malformed length: a server that sends either is not spoken to further.
 */
export function nextPacket(buf: Uint8Array, max: number): { packet: Packet; used: number } | null {
  if (buf.length < 2) return null;
  let length = 0;
  let at = 1;
  for (let shift = 0; ; shift += 7) {
    if (at >= buf.length) return null;
    if (shift > 21) throw new Error("malformed remaining length");
    const byte = buf[at++]!;
    length += (byte & 127) * 2 ** shift;
    if ((byte & 128) === 0) break;
  }
  if (length > max) throw new Error(`a packet of ${length} bytes, over the ${max} asked for`);
  if (buf.length < at + length) return null;
  return { packet: { type: buf[0]! >> 4, flags: buf[0]! & 15, body: buf.subarray(at, at + length) }, used: at + length };
}

/** A PUBLISH's topic, payload and retain flag (its packet id, for QoS 1 and 2, and its properties skipped). */
export function readPublish(p: Packet): { topic: string; payload: Uint8Array; retain: boolean; qos: number; id?: number } {
  const b = p.body;
  const topicLength = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  let at = 2 + topicLength;
  const topic = dec.decode(b.subarray(2, at));
  const qos = (p.flags >> 1) & 3;
  let id: number | undefined;
  if (qos > 0) {
    id = ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
    at += 2;
  }
  const properties = varintAt(b, at);
  at = properties.next + properties.value;
  if (at > b.length) throw new Error("a PUBLISH shorter than its own header");
  return { topic, payload: b.subarray(at), retain: (p.flags & 1) === 1, qos, ...(id === undefined ? {} : { id }) };
}

/** The reason code of a CONNACK (its second byte): 0 is MQTT 5's only success (a 3.1.1 broker's 1 is a refusal). */
export const connackReason = (p: Packet): number => p.body[1] ?? 0xff;

/** A Variable Byte Integer at `at` in `b`: its value and where what follows it starts. */
function varintAt(b: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 0; shift <= 21; shift += 7) {
    const byte = b[at++] ?? 0;
    value += (byte & 127) * 2 ** shift;
    if ((byte & 128) === 0) break;
  }
  return { value, next: at };
}

/** What a CONNACK's properties ask of the client: a keep-alive of the server's, whether it keeps messages, its packet limit. */
export interface ServerTerms {
  keepAliveS?: number;
  retainAvailable?: boolean;
  maximumPacketSize?: number;
}

// The sizes of the properties a CONNACK may carry (section 3.2.2.3): a number of bytes, or "s" for a string or
// binary field, "ss" for a pair of strings (a user property).
const CONNACK_PROPERTIES: Record<number, number | "s" | "ss"> = {
  17: 4,
  18: "s",
  19: 2,
  21: "s",
  22: "s",
  26: "s",
  28: "s",
  31: "s",
  33: 2,
  34: 2,
  36: 1,
  37: 1,
  38: "ss",
  39: 4,
  40: 1,
  41: 1,
  42: 1,
};

/** Reads the CONNACK's properties; an identifier it does not know ends the reading (what it knows came before). */
export function connackTerms(p: Packet): ServerTerms {
  const b = p.body;
  const { value: length, next } = varintAt(b, 2);
  const end = Math.min(b.length, next + length);
  const u16At = (i: number) => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  const terms: ServerTerms = {};
  for (let at = next; at < end; ) {
    const id = b[at++]!;
    const size = CONNACK_PROPERTIES[id];
    if (size === undefined) break;
    if (id === 0x13) terms.keepAliveS = u16At(at);
    else if (id === 0x25) terms.retainAvailable = b[at] === 1;
    else if (id === 0x27) terms.maximumPacketSize = u16At(at) * 65536 + u16At(at + 2);
    if (typeof size === "number") at += size;
    else if (size === "s") at += 2 + u16At(at);
    else at += 4 + u16At(at) + u16At(at + 2 + u16At(at));
  }
  return terms;
}

/** A SUBACK's packet id and its reason code (one filter each): 0x80 and over, the broker refused the subscription. */
export function readSuback(p: Packet): { id: number; reason: number } {
  const { value: length, next } = varintAt(p.body, 2);
  return { id: ((p.body[0] ?? 0) << 8) | (p.body[1] ?? 0), reason: p.body[next + length] ?? 0x80 };
}

/** What a CONNACK's refusal means, for the log. */
export function refusalOf(code: number): string {
  const known: Record<number, string> = {
    1: "unacceptable protocol version (the broker speaks MQTT 3.1.1, not MQTT 5)",
    132: "unsupported protocol version (the broker does not speak MQTT 5)",
    133: "client identifier not valid",
    134: "bad user name or password",
    135: "not authorized",
    136: "server unavailable",
    137: "server busy",
    138: "banned",
    149: "packet too large",
    154: "retain not supported (the broker keeps no retained messages, which Home Assistant's discovery needs)",
    155: "QoS not supported",
    159: "connection rate exceeded",
    151: "quota exceeded",
    143: "topic filter invalid",
  };
  return known[code] ?? `refused (reason code 0x${code.toString(16)})`;
}
