// Headless Chromium for the page and picture tests, and where their
// screenshots go: docs/ (shown in the README) with UPDATE_SCREENSHOTS=1,
// else a temporary directory.

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function screenshotDir(): string {
  if (!process.env['UPDATE_SCREENSHOTS']) return mkdtempSync(join(tmpdir(), 'tcc-shots-'));
  const dir = join(process.cwd(), 'docs');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Headless Chromium with WebGPU on SwiftShader (its software adapter), or with WebGPU off (`webgpu: false`), in a fresh profile. */
export function launchWebGpuChromium(options: { acceptDownloads?: boolean; webgpu?: boolean } = {}): Promise<BrowserContext> {
  const { webgpu = true, ...rest } = options;
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'tcc-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    ...rest,
    args: [...(webgpu ? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] : ['--disable-features=WebGPU']), '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Opens tcc's page at `url` and waits until it has loaded its model; `problems` collects the page's uncaught errors. */
export async function openTccPage(browser: BrowserContext, url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => (window as { tccReady?: boolean; tccError?: string }).tccReady || (window as { tccError?: string }).tccError, undefined, { timeout: 60_000 });
  const error = await page.evaluate(() => (window as { tccError?: string }).tccError);
  if (error !== undefined) throw new Error(`the page failed to load: ${error}`);
  return { page, problems };
}
