// Debian's Chromium for the browser tests, driven by playwright-core; the tests skip, saying why, without it.
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null when they can. */
export const chromiumMissing: string | null = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`;

/** A headless Chromium that reaches for nothing by itself: only the page's own requests go out. */
export function launchChromium(): Promise<Browser> {
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ];
  return chromium.launch({ executablePath: CHROMIUM, args });
}
