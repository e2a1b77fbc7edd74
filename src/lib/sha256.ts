/**
 * SHA-256 of text or bytes. Bun's own hasher: node:crypto's createHash does the same, but loading it costs
 * the process about 2 MB of memory for good (measured at idle), and only a key's hash needs it.
 */
export const sha256 = (data: string | Uint8Array): Buffer => new Bun.CryptoHasher("sha256").update(data).digest();
