/** Accepts aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff (any case); returns lower-case colon form or null. */
export function normalizeMac(input: string): string | null {
  const s = input.trim().toLowerCase();
  const m = /^([0-9a-f]{2})([:-]?)([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/.exec(s);
  if (!m) return null;
  return [m[1], m[3], m[4], m[5], m[6], m[7]].join(":");
}

/** The Wake-on-LAN payload: 6 × 0xFF followed by the MAC repeated 16 times (102 bytes). */
export function magicPacket(mac: string): Buffer {
  const normalized = normalizeMac(mac);
  if (!normalized) throw new TypeError("invalid MAC address");
  const macBytes = Buffer.from(normalized.replaceAll(":", ""), "hex");
  const packet = Buffer.alloc(6 + 16 * 6, 0xff);
  for (let i = 0; i < 16; i++) macBytes.copy(packet, 6 + i * 6);
  return packet;
}

/** Reads the MAC out of a magic packet, or null when the bytes are not one. */
export function macFromMagicPacket(packet: Uint8Array): string | null {
  if (packet.length < 102) return null;
  for (let i = 0; i < 6; i++) if (packet[i] !== 0xff) return null;
  const mac = Buffer.from(packet.subarray(6, 12));
  for (let i = 1; i < 16; i++) {
    if (!mac.equals(Buffer.from(packet.subarray(6 + i * 6, 12 + i * 6)))) return null;
  }
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}
