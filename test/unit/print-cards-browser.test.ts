import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { cardsHtml } from '../../src/ui/print-cards.js';
import { launchBrowser } from '../helpers/browser.js';
import { classInfo, studentInfo, withPassword } from '../helpers/class-info.js';

/** The same two students as print-cards.test.ts (imported, that file would run its tests again here). */
const fixture = classInfo([
  studentInfo(1, { domain: 'etudiant1.lab', page: null }),
  studentInfo(2, { domain: 'etudiant2.lab', accounts: withPassword('util12', 'autre&mdp') }),
]);

/** dist/test-artifacts/, next to the compiled tests (dist/test/unit/ → dist/). */
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe('printable student cards in a real browser', { timeout: 6 * 60_000 }, () => {
  let browser: Browser;
  let page: Page;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labctl-cards-'));
    const file = join(dir, 'cards.html');
    await writeFile(file, cardsHtml(fixture));
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
    await page.goto(pathToFileURL(file).href);
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows one card per student with its filled-in commands', async () => {
    const cards = page.locator('section.card');
    assert.equal(await cards.count(), 2);
    const second = await cards.nth(1).innerText();
    assert.ok(second.includes('telnet 192.0.2.10 10225'), second);
    assert.ok(second.includes('ssh -p 10222 util2@192.0.2.10'), second);
    assert.ok(second.includes('RCPT TO: <util12@etudiant2.lab>'), second);
    assert.ok(second.includes('autre&mdp'), 'util12 password shown literally');
    const first = await cards.nth(0).innerText();
    assert.ok(!first.includes('progression'), 'no progress page on card 1');
    assert.equal(await cards.nth(0).locator('a').count(), 0);
  });

  it('breaks the page after each card when printed', async () => {
    await page.emulateMedia({ media: 'print' });
    const breaks = await page
      .locator('section.card')
      .evaluateAll((els) => els.map((el) => getComputedStyle(el).getPropertyValue('break-after')));
    assert.deepEqual(breaks, ['page', 'page']);
    await page.emulateMedia({ media: null });
  });

  it('prints to a 2-page A4 PDF', async () => {
    await page.emulateMedia({ media: 'print' });
    const pdf = await page.pdf({ preferCSSPageSize: true, printBackground: true });
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(join(ARTIFACTS, 'cards.pdf'), pdf);
    await page.emulateMedia({ media: null });
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    const pages = pdf.toString('latin1').match(/\/Type\s*\/Page(?!s)\b/g) ?? [];
    assert.equal(pages.length, 2);
    const box = /\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/.exec(pdf.toString('latin1'));
    assert.ok(box, 'the PDF has a page size');
    assert.ok(Math.abs(Number(box[1]) - 595) < 2 && Math.abs(Number(box[2]) - 842) < 2, `A4: ${box[0]}`);
  });

  it('renders a readable screenshot', async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'cards.png');
    // As printed: print media, the width of an A4 page inside its 12 mm margins (186 mm at 96 dpi).
    await page.emulateMedia({ media: 'print' });
    await page.setViewportSize({ width: 703, height: 1032 });
    const card = page.locator('section.card').nth(1);
    const box = await card.boundingBox();
    assert.ok(box && box.height <= 1032, `card 2 fits on one A4 page: ${box?.height}px`);
    await card.screenshot({ path: file });
    const png = await readFile(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok((await stat(file)).size > 20_000, 'a real picture, not a blank one');
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    assert.ok(width > 600 && height > 500, `${width}×${height}`);
  });
});
