// The wrong-key throttle's memory: what it remembers per address and per (address, key) stays bounded, however
// many addresses a flood comes from, and a key that worked keeps its exemption only as long as it is remembered.
import { expect, test } from "bun:test";
import { LOGIN_ATTEMPTS_PER_MIN, LoginThrottle } from "../../src/http/throttle.ts";

const address = (i: number) => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`; // names only: nothing is sent

test("addresses and (address, key) pairs are each remembered at most 10,000 at a time, the oldest forgotten first", () => {
  const t = new LoginThrottle(() => 0);
  for (let i = 0; i < 12_000; i++) {
    t.failed(address(i));
    t.worked(address(i), "identity");
  }
  expect(t.size).toBeLessThanOrEqual(10_000);
  expect(t.knownPairs).toBeLessThanOrEqual(10_000);
});

test("past the limit only a key that worked from the address gets in, and only from that address", () => {
  let now = 0;
  const t = new LoginThrottle(() => now);
  t.worked("127.0.0.1", "good");
  for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) t.failed("127.0.0.1");
  expect(t.allowed("127.0.0.1")).toBe(false);
  expect(t.allowed("127.0.0.1", "good")).toBe(true);
  expect(t.allowed("127.0.0.1", "never-used-here")).toBe(false);
  for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) t.failed("127.0.0.2");
  expect(t.allowed("127.0.0.2", "good")).toBe(false);
  now += 61_000;
  expect(t.allowed("127.0.0.2")).toBe(true);
});
