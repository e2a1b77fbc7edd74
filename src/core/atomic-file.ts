import { mkdir, rename } from "node:fs/promises";
import { dirname } from "node:path";

let counter = 0;

/** Writes a whole file or nothing: a crash mid-write leaves the old file, never half of the new one. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  await Bun.write(tmp, text);
  await rename(tmp, file);
}

export const writeJsonAtomic = (file: string, value: unknown) => writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
