// The key ring compares a candidate with every key, plain keys as text and key_sha256 entries on its hash:
// exactly the key matches, never a prefix, a longer text or another letter case.
import { expect, test } from "bun:test";
import { KeyRing } from "../../../src/core/access/access.ts";
import { sha256 } from "../../../src/lib/sha256.ts";

const ring = new KeyRing([
  { name: "plain", role: "inference", secret: { kind: "plain", key: "plain-key-0123456789" } },
  { name: "accents", role: "user", secret: { kind: "plain", key: "clé-ñandú-0123456789" } },
  { name: "hashed", role: "admin", secret: { kind: "sha256", sha256: sha256("hashed-key-0123456789").toString("hex") } },
]);
const named = (candidate: string | undefined) => ring.match(candidate)?.name ?? null;

test("each key matches itself, a plain one as a hashed one, non-ASCII text too", () => {
  expect([named("plain-key-0123456789"), named("clé-ñandú-0123456789"), named("hashed-key-0123456789")]).toEqual(["plain", "accents", "hashed"]);
});

test("nothing else matches: a prefix, a longer text, another case, the hash itself, nothing given", () => {
  for (const wrong of ["plain-key-012345678", "plain-key-01234567890", "PLAIN-key-0123456789", "cle-ñandú-0123456789", "", undefined])
    expect(named(wrong)).toBeNull();
  expect(named(sha256("hashed-key-0123456789").toString("hex"))).toBeNull();
});

test("a ring of plain keys only matches without hashing, and the same key text in a candidate with a NUL past its end does not", () => {
  const plain = new KeyRing([{ name: "only", role: "user", secret: { kind: "plain", key: "abc" } }]);
  expect(plain.match("abc")?.name).toBe("only");
  expect(plain.match("abc\0")).toBeNull();
  expect(plain.match("ab")).toBeNull();
});
