// Debian's Chromium for the browser tests, driven by playwright-core; the tests skip, saying why, without it.
import { afterAll, afterEach } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { childEnv, tempDir } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null when they can. */
export const chromiumMissing: string | null = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`;

/** A headless Chromium that reaches for nothing by itself: only the page's own requests go out. */
export async function launchChromium(): Promise<Browser> {
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ];
  // Its own HOME and environment: nothing of the user's (a proxy variable, a profile) reaches the browser.
  const home = tempDir("ollama-gate-chromium-");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args, env: childEnv({}, home.dir) });
  browser.on("disconnected", home.cleanup);
  return browser;
}

/** Waits for `p` at most `ms`; a rejection or a hang only makes it false. For cleanup that must not throw. */
async function settled(p: Promise<unknown> | undefined, ms = 5_000): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([Promise.resolve(p).then(() => true), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Chromium for the tests of one describe block (call it in the block), each test in browser contexts of its
 * own that are closed after it, pass or fail, so one test's failure cannot fail the next:
 * - on a test's timeout bun kills every process the file started, Chromium among them (oven-sh/bun#38774):
 *   the next test launches another instead of finding it dead;
 * - a close that throws or hangs (a hung page) is bounded and swallowed, and that browser is dropped.
 */
export function chromiumPerTest() {
  let browser: Browser | undefined;
  const open = new Set<BrowserContext>();
  const drop = async () => {
    const b = browser;
    browser = undefined;
    await settled(b?.close());
  };
  afterEach(async () => {
    const contexts = [...open];
    open.clear();
    const closed = await Promise.all(contexts.map((c) => settled(c.close())));
    if (closed.includes(false)) await drop();
  });
  afterAll(drop);
  return {
    /** A new context (a fresh profile: no cookies, no storage), closed after the test. */
    async newContext(options?: Parameters<Browser["newContext"]>[0]): Promise<BrowserContext> {
      // A browser just killed may still read as connected until Playwright sees its pipe close: a failed
      // first try launches another; a second failure is the test's.
      for (let attempt = 1; ; attempt++) {
        if (!browser?.isConnected()) {
          await drop();
          browser = await launchChromium();
        }
        try {
          const context = await browser.newContext(options);
          open.add(context);
          return context;
        } catch (err) {
          if (attempt === 2) throw err;
          await drop();
        }
      }
    },
    /**
     * The dashboard of the gateway at `origin`, logged in with `key`, in a context that may reach that origin
     * alone (the page must need nothing else) and fails a missing element well inside a test's time.
     */
    async dashboard(origin: string, key: string, options?: Parameters<Browser["newContext"]>[0]) {
      const context = await this.newContext(options);
      context.setDefaultTimeout(10_000);
      await context.route(
        (url) => url.origin !== origin,
        (route) => route.abort(),
      );
      const page: Page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${origin}/ui`);
      await page.locator("#key").fill(key);
      await Promise.all([page.waitForURL(`${origin}/ui`), page.locator('#login button[type="submit"]').click()]);
      return { context, page, errors };
    },
  };
}
