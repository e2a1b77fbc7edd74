import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

let counter = 0;

/**
 * Writes a whole file or nothing: a crash mid-write leaves the old file, never half of the new one. Once
 * this resolves the new file survives a power cut too: the temp file's bytes are flushed (fdatasync) before the
 * rename (else the rename may reach the disk first, and a crash leave an empty file under the real name),
 * and the directory after it (else the rename itself may be lost).
 */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(text);
    await handle.datasync(); // the bytes and the size; the file's times need not reach the disk first
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true }); // a full disk must not also fill it with half-written temp files
    throw err;
  }
  await handle.close();
  await rename(tmp, file);
  await syncDir(dir);
}

/** Flushes a directory's entries. Some filesystems cannot (EINVAL, EISDIR, ENOTSUP): there is nothing more to do then. */
async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (err) {
    if (!UNSYNCABLE.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
  } finally {
    await handle?.close();
  }
}

const UNSYNCABLE = new Set(["EINVAL", "EISDIR", "ENOTSUP"]);

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
