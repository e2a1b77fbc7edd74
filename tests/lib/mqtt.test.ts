// The gateway's small MQTT 5 client: its packets byte for byte against the standard's layout, and the client
// against a real mosquitto, read back by another client (MQTT.js): publish, subscribe, the will, the size limit.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { MqttClient, type MqttClientOptions } from "../../src/lib/mqtt/client.ts";
import { connectPacket, PacketType, publishPacket, subscribePacket, varint } from "../../src/lib/mqtt/packets.ts";
import { connackReason, connackTerms, nextPacket, readPublish, readSuback, refusalOf } from "../../src/lib/mqtt/read.ts";
import { tempDir, until } from "../helpers.ts";
import { type Broker, hasMosquitto, MOSQUITTO, OPENSSL, reader, startBroker, testCertificates } from "../mosquitto.ts";

describe("packets", () => {
  test("variable byte integers, as the standard's examples give them", () => {
    expect(varint(0)).toEqual([0]);
    expect(varint(127)).toEqual([0x7f]);
    expect(varint(128)).toEqual([0x80, 0x01]);
    expect(varint(16_383)).toEqual([0xff, 0x7f]);
    expect(varint(16_384)).toEqual([0x80, 0x80, 0x01]);
  });

  test("CONNECT: protocol MQTT 5, clean start, the will, user and password, the maximum packet size", () => {
    const bytes = connectPacket({
      clientId: "c",
      keepaliveS: 30,
      username: "u",
      password: "p",
      maximumPacketSize: 16_384,
      will: { topic: "t", payload: "offline", qos: 1, retain: true },
    });
    const { packet, used } = nextPacket(bytes, 1 << 20)!;
    expect(used).toBe(bytes.length);
    expect(packet.type).toBe(PacketType.connect);
    const b = [...packet.body];
    expect(b.slice(0, 7)).toEqual([0, 4, 0x4d, 0x51, 0x54, 0x54, 5]); // "MQTT", level 5
    expect(b[7]).toBe(0x80 | 0x40 | 0x20 | (1 << 3) | 0x04 | 0x02); // user, password, will retain, will QoS 1, will, clean start
    expect(b.slice(8, 10)).toEqual([0, 30]);
    expect(b.slice(10, 16)).toEqual([5, 0x27, 0, 0, 0x40, 0]); // properties: Maximum Packet Size 16,384
    expect(Buffer.from(packet.body).includes(Buffer.from("offline"))).toBe(true);
  });

  test("PUBLISH read back: topic, payload, retain; a QoS 1 one's id and properties skipped", () => {
    const own = readPublish(nextPacket(publishPacket("a/b", "ON", true), 1024)!.packet);
    expect({ ...own, payload: String(Buffer.from(own.payload)) }).toEqual({ topic: "a/b", payload: "ON", retain: true, qos: 0 });
    // QoS 1, packet id 7, a property (payload format indicator 1), payload "PRESS".
    const body = [0, 1, 0x78, 0, 7, 2, 0x01, 1, ...Buffer.from("PRESS")];
    const qos1 = readPublish({ type: PacketType.publish, flags: 0b0010, body: Uint8Array.from(body) });
    expect({ ...qos1, payload: String(Buffer.from(qos1.payload)) }).toEqual({ topic: "x", payload: "PRESS", retain: false, qos: 1, id: 7 });
  });

  test("CONNACK: the server's terms read past properties it does not need; a 3.1.1 broker's refusal named; SUBACK's reason", () => {
    // Session present 0, success; properties: a user property, Server Keep Alive 10, Retain Available 0, Maximum Packet Size 1000.
    const props = [0x26, 0, 1, 0x6b, 0, 1, 0x76, 0x13, 0, 10, 0x25, 0, 0x27, 0, 0, 0x03, 0xe8];
    const connack = { type: PacketType.connack, flags: 0, body: Uint8Array.from([0, 0, props.length, ...props]) };
    expect(connackReason(connack)).toBe(0);
    expect(connackTerms(connack)).toEqual({ keepAliveS: 10, retainAvailable: false, maximumPacketSize: 1000 });
    // A 3.1.1 broker answers a version-5 CONNECT with return code 1: not a success.
    expect(connackReason({ type: PacketType.connack, flags: 0, body: Uint8Array.of(0, 1) })).toBe(1);
    expect(refusalOf(1)).toContain("MQTT 3.1.1");
    expect(readSuback({ type: PacketType.suback, flags: 0, body: Uint8Array.of(0, 7, 0, 0x87) })).toEqual({ id: 7, reason: 0x87 });
    // Retain Handling 2 and Retain As Published in the options byte: nothing kept is sent when subscribing.
    expect(subscribePacket(1, "a").at(-1)).toBe(0x28);
  });

  test("a packet is cut from its bytes only once whole; one longer than asked for, or a malformed length, is refused", () => {
    const bytes = subscribePacket(1, "ollama-gate/+/+/set");
    expect(nextPacket(bytes.subarray(0, 1), 1024)).toBeNull();
    expect(nextPacket(bytes.subarray(0, bytes.length - 1), 1024)).toBeNull();
    expect(nextPacket(bytes, 1024)!.used).toBe(bytes.length);
    expect(() => nextPacket(publishPacket("t", "x".repeat(2000), false), 1024)).toThrow("over the 1024 asked for");
    expect(() => nextPacket(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), 1 << 30)).toThrow("malformed");
  });
});

const SKIP = hasMosquitto ? "" : `${MOSQUITTO} is not installed (apt-get install mosquitto; .ci/run installs it)`;

describe.skipIf(Boolean(SKIP))(SKIP ? `the client against mosquitto (skipped: ${SKIP})` : "the client against mosquitto", () => {
  const ends: (() => unknown)[] = [];
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });
  let broker: Broker;
  // One broker for the tests that need no settings of their own, so each runs alone too (`-t`).
  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-mqtt-lib-");
    ends.push(cleanup);
    broker = await startBroker(dir);
    ends.push(() => broker.stop());
  });
  const options = (extra: Partial<MqttClientOptions> = {}): MqttClientOptions => ({
    host: "127.0.0.1",
    port: broker.port,
    tls: false,
    clientId: `t-${crypto.randomUUID().slice(0, 8)}`,
    keepaliveS: 30,
    connectTimeoutMs: 5000,
    maximumPacketSize: 4096,
    ...extra,
  });
  const connected = async (o: MqttClientOptions) => {
    const c = new MqttClient(o);
    const up = new Promise<void>((resolve, reject) => {
      c.on("connect", resolve);
      c.on("error", reject);
    });
    c.connect();
    await up;
    return c;
  };

  test("publishes retained, subscribes, and is sent nothing over its maximum packet size", async () => {
    const c = await connected(options());
    ends.push(() => c.end(true));
    c.publish("s/state", "on", { qos: 0, retain: true });
    const other = await reader(broker.url, ["s/#"]);
    ends.push(() => other.close());
    expect(await other.next((m) => m.topic === "s/state")).toMatchObject({ payload: "on", retain: true });
    const got: { topic: string; payload: string; retain: boolean }[] = [];
    c.on("message", (topic, payload, p) => got.push({ topic, payload: String(payload), retain: p.retain }));
    c.subscribe("s/+/set", { qos: 0 });
    // The subscription is in place once a message published after it comes back.
    await until(async () => {
      await other.client.publishAsync("s/ping/set", "1");
      return got.length > 0;
    }, 5000);
    await other.client.publishAsync("s/big/set", "x".repeat(10_000)); // over 4,096: the broker drops it for this client
    await other.client.publishAsync("s/kept/set", "PRESS", { retain: true });
    await until(() => got.some((m) => m.topic === "s/kept/set"), 5000);
    expect(got.some((m) => m.topic === "s/big/set")).toBe(false);
    expect(got.find((m) => m.topic === "s/kept/set")).toEqual({ topic: "s/kept/set", payload: "PRESS", retain: true });
  });

  test("the will on a cut link; none after a clean end", async () => {
    const other = await reader(broker.url, ["w/#"]);
    ends.push(() => other.close());
    const dying = await connected(options({ will: { topic: "w/a", payload: "gone", qos: 1, retain: false } }));
    dying.end(true); // no DISCONNECT: the broker publishes the will
    expect((await other.next((m) => m.topic === "w/a")).payload).toBe("gone");
    const clean = await connected(options({ will: { topic: "w/b", payload: "gone", qos: 1, retain: false } }));
    await new Promise<void>((resolve) => clean.end(false, {}, resolve));
    clean.connect(); // a later message on the same client shows the broker had time to publish a will, if any
    await new Promise<void>((resolve) => clean.on("connect", resolve));
    clean.publish("w/after", "1", { qos: 0, retain: false });
    await other.next((m) => m.topic === "w/after");
    expect(other.seen.some((m) => m.topic === "w/b")).toBe(false);
    clean.end(true);
  });

  test("a refused login is an error naming the reason, then a close", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-mqtt-lib-");
    ends.push(cleanup);
    const guarded = await startBroker(dir, { user: { name: "ha", password: "right-one" } });
    ends.push(() => guarded.stop());
    const c = new MqttClient({ ...options(), port: guarded.port, username: "ha", password: "wrong-one" });
    const errors: string[] = [];
    const closed = new Promise<void>((resolve) => c.on("close", resolve));
    c.on("error", (e) => errors.push(e.message));
    c.connect();
    await closed;
    expect(errors.join("\n")).toMatch(/Connection refused: (bad user name or password|not authorized)/);
    expect(c.connected).toBe(false);
  });

  test.skipIf(!existsSync(OPENSSL))(
    "mqtts://: connects to a broker whose certificate names it; refuses another name and an unknown authority, saying so",
    async () => {
      const { dir, cleanup } = tempDir("ollama-gate-mqtt-tls-");
      ends.push(cleanup);
      const certs = testCertificates(dir);
      const ca = readFileSync(certs.ca, "utf8");
      const attempt = async (port: number, trust: string | undefined) => {
        const c = new MqttClient({ ...options(), port, tls: true, ...(trust ? { ca: trust } : {}) });
        const outcome = await new Promise<string>((resolve) => {
          c.on("connect", () => resolve("connected"));
          c.on("error", (e) => resolve(e.message));
          c.connect();
        });
        c.end(true);
        return outcome;
      };
      const right = await startBroker(dir, { tls: { certfile: certs.right, keyfile: certs.key } });
      ends.push(() => right.stop());
      expect(await attempt(right.port, ca)).toBe("connected");
      expect(await attempt(right.port, undefined)).toContain("the broker's certificate is not trusted for 127.0.0.1");
      const other = await startBroker(dir, { tls: { certfile: certs.wrongName, keyfile: certs.key } });
      ends.push(() => other.stop());
      const wrong = await attempt(other.port, ca);
      expect(wrong).toContain("the broker's certificate is not trusted for 127.0.0.1");
      expect(wrong).toContain("127.0.0.1 is not in the cert's list");
    },
  );
});
