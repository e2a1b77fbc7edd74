/**
 * SHA-256 of text or bytes. Bun's own hasher: node:crypto's createHash does the same, but loading it at
 * startup, only for the keys' hashes, kept memory for good (measured after start: README, "Benchmarks").
 */
export const sha256 = (data: string | Uint8Array): Buffer => new Bun.CryptoHasher("sha256").update(data).digest();
