import { afterEach, describe, expect, test } from "bun:test";
import { sendMagicPacket } from "../../../src/core/machine/wol.ts";
import { magicPacket, normalizeMac } from "../../../src/lib/mac.ts";
import { type ReceivedPacket, WolListener } from "../../../src/sim/wol-listener.ts";

let listener: WolListener | undefined;
afterEach(() => listener?.close());

/** A real UDP socket, and a promise for the next datagram it receives. */
async function listen(address: string) {
  let resolveNext!: (p: ReceivedPacket) => void;
  const next = new Promise<ReceivedPacket>((r) => (resolveNext = r));
  listener = new WolListener((p) => resolveNext(p));
  const port = await listener.listen(0, address);
  return { port, next };
}

function expectMagicPacketFor(bytes: Buffer, macHex: string) {
  expect(bytes.length).toBe(102);
  expect([...bytes.subarray(0, 6)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  for (let i = 0; i < 16; i++) expect(bytes.subarray(6 + i * 6, 12 + i * 6).toString("hex")).toBe(macHex);
}

describe("magic packet", () => {
  test("arrives at a real UDP socket as 6 × 0xFF then 16 × the MAC", async () => {
    const { port, next } = await listen("127.0.0.1");
    await sendMagicPacket({ mac: "AA-BB-CC-DD-EE-0F", address: "127.0.0.1", port });
    const p = await next;
    expectMagicPacketFor(p.bytes, "aabbccddee0f");
    expect(p.mac).toBe("aa:bb:cc:dd:ee:0f");
  });

  test("goes out as a broadcast (to the loopback broadcast address)", async () => {
    const { port, next } = await listen("0.0.0.0");
    await sendMagicPacket({ mac: "001122334455", address: "127.255.255.255", port });
    expectMagicPacketFor((await next).bytes, "001122334455");
  });

  test("is built the same whatever the MAC's notation", () => {
    const a = magicPacket("aa:bb:cc:dd:ee:ff");
    expect(magicPacket("AABBCCDDEEFF").equals(a)).toBe(true);
    expect(magicPacket("aa-bb-cc-dd-ee-ff").equals(a)).toBe(true);
  });

  test("rejects what is not a MAC", () => {
    for (const bad of ["", "aa:bb:cc:dd:ee", "aa:bb-cc:dd:ee:ff", "gg:bb:cc:dd:ee:ff", "aabbccddeeff00"]) {
      expect(normalizeMac(bad)).toBeNull();
    }
    expect(() => magicPacket("nope")).toThrow();
  });
});
