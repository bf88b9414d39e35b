import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import type { ClassInfo } from '../../src/core/class-model.js';
import { loadLab } from '../../src/core/lab.js';
import { LabctlError } from '../../src/errors.js';
import { handoutHtml } from '../../src/ui/handout.js';
import { findChromium, printPdf } from '../../src/ui/pdf.js';
import { CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { pdfPages, sectionsByStudent } from '../helpers/pdf.js';
import { classInfo, studentInfo } from '../helpers/class-info.js';

const fixture = classInfo([studentInfo(1), studentInfo(2)]);

const ports = (n: number) => [10025, 10010, 10043, 10022].map((p) => String(p + n * 100));

/** dist/test-artifacts/, next to the compiled tests (dist/test/unit/ → dist/). */
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

const lab = await loadLab();

describe('the handout printed by Chromium', { timeout: 5 * 60_000 }, () => {
  let dir: string;
  let browser: Browser | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labctl-handout-'));
  });
  after(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints one section per student, each from a new page with its own ports', async () => {
    const file = join(dir, 'enonce.pdf');
    await writeFile(file, await printPdf(handoutHtml(fixture, lab), CHROMIUM));
    const pages = await pdfPages(file);
    const sections = sectionsByStudent(pages);
    assert.deepEqual(
      sections.map((s) => s.student),
      [1, 2],
    );
    assert.equal(sections[0]!.firstPage, 1);
    assert.ok(sections[1]!.firstPage > 2, `student 2 starts on page ${sections[1]!.firstPage} of ${pages.length}`);
    for (const [i, s] of sections.entries()) {
      const mine = ports(s.student);
      const theirs = ports(s.student === 1 ? 2 : 1);
      for (const p of mine) assert.match(s.text, new RegExp(`\\b${p}\\b`), `student ${s.student}: own port ${p}`);
      for (const p of theirs) assert.doesNotMatch(s.text, new RegExp(`\\b${p}\\b`), `student ${s.student}: ${p}`);
      assert.ok(s.text.includes(`telnet 192.0.2.10 ${mine[0]}`), `student ${i + 1}: the SMTP command`);
      for (const x of lab.exercises) assert.ok(s.text.replace(/\s+/g, ' ').includes(x.title), x.title);
    }
  });

  it('says how to install Chromium when there is none, and which variable pointed where', async () => {
    await assert.rejects(findChromium({ PATH: '/nonexistent' }), (error: LabctlError) => {
      assert.equal(error.code, 'no-chromium');
      assert.equal(error.exitCode, 2);
      assert.match(error.hint ?? '', /apt-get install chromium/);
      return true;
    });
    await assert.rejects(
      findChromium({ PATH: process.env.PATH, LABCTL_CHROMIUM: join(dir, 'nope') }),
      /LABCTL_CHROMIUM/,
    );
    assert.equal(await findChromium({ PATH: '/usr/bin' }), '/usr/bin/chromium');
  });

  it('says so when Chromium fails or prints nothing', async () => {
    const fails = join(dir, 'fails.sh');
    await writeFile(fails, '#!/bin/sh\necho "crashed: no display" >&2\nexit 3\n', { mode: 0o755 });
    const silent = join(dir, 'silent.sh');
    await writeFile(silent, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    await assert.rejects(printPdf('<p>x</p>', fails), (error: LabctlError) => {
      assert.equal(error.code, 'pdf-failed');
      assert.match(error.message, /crashed: no display/);
      return true;
    });
    await assert.rejects(printPdf('<p>x</p>', silent), /Chromium wrote no PDF/);
  });

  it('renders a readable first page, and shows hostile values as text', async () => {
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 794, height: 1123 } });
    const file = join(dir, 'enonce.html');
    const hostile: ClassInfo = {
      ...fixture,
      students: [{ ...fixture.students[0]!, host: '<img src=x onerror=alert(1)>' }, fixture.students[1]!],
    };
    await writeFile(file, handoutHtml(hostile, lab));
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href);
    assert.equal(await page.locator('section.student').count(), 2);
    assert.equal(await page.locator('img').count(), 0);
    const first = await page.locator('section.student').nth(0).innerText();
    assert.ok(first.includes('telnet <img src=x onerror=alert(1)> 10125'), 'shown literally');
    assert.equal(dialogs, 0);

    // As printed: print media, the width of an A4 page inside its margins (184 mm at 96 dpi); student 2's first page.
    await page.emulateMedia({ media: 'print' });
    await page.setViewportSize({ width: 695, height: 1000 });
    const second = page.locator('section.student').nth(1);
    const box = await second.boundingBox();
    assert.ok(box);
    await mkdir(ARTIFACTS, { recursive: true });
    const png = join(ARTIFACTS, 'handout.png');
    await page.screenshot({ path: png, fullPage: true, clip: { x: box.x, y: box.y, width: box.width, height: 1000 } });
    const bytes = await readFile(png);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.ok(bytes.length > 20_000, 'a real picture, not a blank one');
    assert.ok((await second.innerText()).includes('telnet 192.0.2.10 10225'));
  });
});
