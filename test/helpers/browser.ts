/**
 * A real browser for the review page's tests: Debian's Chromium (`apt-get install chromium`,
 * which .ci/run does) driven by playwright-core, headless, with a fresh user-data-dir per launch
 * (no downloads: playwright's own browser download cannot work here).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Where Debian installs Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** True when the browser is installed (tests skip with a reason otherwise). */
export const haveChromium = existsSync(CHROMIUM);

/** A launched browser with one page. */
export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile; the page starts at `width`×`height`. */
export async function launchBrowser(width = 1280, height = 800): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'earshot-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
    viewport: { width, height },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
