// One browser test's failure must not fail its neighbours (issue 22, item 2): a test that timed out used to
// leave the file's shared Chromium killed (bun kills the processes a file started when one of its tests times
// out), and the tests after it failed on a closed browser. tests/browser.ts's chromiumPerTest is the cure.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { chromiumMissing } from "../browser.ts";
import { childEnv, tempDir } from "../helpers.ts";

test.skipIf(chromiumMissing !== null)(
  `a browser test that times out leaves the next one a working browser${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ""}`,
  async () => {
    const { dir, cleanup } = tempDir();
    try {
      const fixture = join(import.meta.dir, "..", "fixtures", "browser-timeout.fixture.ts");
      const proc = Bun.spawn([process.execPath, "test", fixture], { cwd: dir, env: childEnv({}, dir), stdout: "pipe", stderr: "pipe" });
      const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      const output = out + err;
      expect(output).toMatch(/\(fail\) two browser tests > outlives its timeout with a page open/);
      expect(output).toContain("timed out after 2000ms");
      expect(output).toMatch(/\(pass\) two browser tests > the next one has a working browser/);
      expect(output).toMatch(/\n\s*1 pass\n\s*1 fail\n/);
      expect(code).toBe(1);
    } finally {
      cleanup();
    }
  },
  60_000,
);
