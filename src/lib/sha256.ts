/**
 * SHA-256 of text or bytes. Bun's own hasher: node:crypto's createHash does the same, but loading it at
 * startup, only for the keys' hashes, kept about half a megabyte more for good (measured after start).
 */
export const sha256 = (data: string | Uint8Array): Buffer => new Bun.CryptoHasher("sha256").update(data).digest();
