import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

let counter = 0;

/** Writes a whole file or nothing: a crash mid-write leaves the old file, never half of the new one. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  await Bun.write(tmp, text);
  await rename(tmp, file);
}

export const writeJsonAtomic = (file: string, value: unknown) => writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");

const TEMP = /\.tmp-(\d+)-\d+$/;

/**
 * Removes the temp files a killed process left between its write and its rename, and returns their
 * names. A file of another process still running is left alone; one with our own pid is from an
 * earlier life (a container's gateway is always pid 1), since nothing is written before this runs.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(TEMP.exec(name)?.[1] ?? NaN);
    if (!Number.isFinite(pid) || (pid !== process.pid && alive(pid))) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // it exists, as another user's process
  }
}
