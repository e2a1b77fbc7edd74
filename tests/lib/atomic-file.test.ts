// The atomic file write (issue 21, item 14): whole or nothing, and flushed before it resolves — the temp
// file's bytes before the rename, the directory's entry after it — seen in the system calls a real process makes.
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/lib/atomic-file.ts";
import { childEnv, tempDir } from "../helpers.ts";

const MODULE = join(import.meta.dir, "..", "..", "src", "lib", "atomic-file.ts");
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir() {
  const d = tempDir("atomic-file-");
  cleanups.push(d.cleanup);
  return d.dir;
}

test("the file holds the whole new text and no temp file is left", async () => {
  const d = dir();
  const file = join(d, "sub", "status.json");
  await writeFileAtomic(file, "old\n");
  await writeFileAtomic(file, "new\n".repeat(10_000));
  expect(readFileSync(file, "utf8")).toBe("new\n".repeat(10_000));
  expect(readdirSync(join(d, "sub"))).toEqual(["status.json"]);
});

test("a write that cannot be done fails and leaves the old file as it was", async () => {
  const d = dir();
  const file = join(d, "status.json");
  writeFileSync(file, "old\n");
  writeFileSync(join(d, "not-a-dir"), "");
  await expect(writeFileAtomic(join(d, "not-a-dir", "x.json"), "new")).rejects.toThrow();
  expect(readFileSync(file, "utf8")).toBe("old\n");
});

// strace shows the order of the system calls; without it there is nothing to look at.
test.skipIf(!Bun.which("strace"))("the temp file is flushed (fdatasync) before the rename, and the directory (fsync) after it", async () => {
  const d = dir();
  const file = join(d, "status.json");
  const script = join(d, "write.ts");
  writeFileSync(script, `import { writeFileAtomic } from ${JSON.stringify(MODULE)};\nawait writeFileAtomic(${JSON.stringify(file)}, "x");\n`);
  const trace = join(d, "trace");
  const proc = Bun.spawn(
    ["strace", "-f", "-qq", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2", "-o", trace, process.execPath, "--no-env-file", script],
    { env: childEnv({}, d), cwd: d, stderr: "pipe" },
  );
  expect(await proc.exited).toBe(0);
  const lines = readFileSync(trace, "utf8").split("\n");
  const at = (re: RegExp, from = 0) => lines.findIndex((l, i) => i >= from && re.test(l));
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const opened = at(new RegExp(`openat\\(.*"${esc(file)}\\.tmp-[^"]*", O_WRONLY.*= (\\d+)$`));
  expect(opened).toBeGreaterThanOrEqual(0);
  const tmpFd = /= (\d+)$/.exec(lines[opened]!)![1];
  const renamed = at(new RegExp(`rename(at2?)?\\(.*"${esc(file)}\\.tmp-[^"]*",.*"${esc(file)}"`), opened);
  expect(renamed).toBeGreaterThan(opened);
  const synced = at(new RegExp(`f(data)?sync\\(${tmpFd}\\)\\s+= 0`), opened);
  expect(synced).toBeGreaterThan(opened);
  expect(synced).toBeLessThan(renamed);
  const dirOpened = at(new RegExp(`openat\\(.*"${esc(d)}", O_RDONLY.*= (\\d+)$`), renamed);
  expect(dirOpened).toBeGreaterThan(renamed);
  const dirFd = /= (\d+)$/.exec(lines[dirOpened]!)![1];
  expect(at(new RegExp(`f(data)?sync\\(${dirFd}\\)\\s+= 0`), dirOpened)).toBeGreaterThan(dirOpened);
});
