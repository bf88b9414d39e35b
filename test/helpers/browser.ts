import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (apt package `chromium`); playwright-core downloads no browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a quiet, offline, root-friendly headless run. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Waits briefly for the Chromium binary (scripts/setup-host.sh installs it). */
export async function waitForChromium(timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(CHROMIUM)) {
    if (Date.now() > deadline) throw new Error(`Chromium not found at ${CHROMIUM} after ${timeoutMs / 1000}s.`);
    await sleep(2_000);
  }
  return CHROMIUM;
}

/** Launches headless Chromium through playwright-core; close it with `browser.close()`. */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = await waitForChromium();
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 60_000 });
}
