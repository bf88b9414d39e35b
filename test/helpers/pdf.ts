import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The text of each page of a PDF, through pdftotext (Debian's poppler-utils, installed by scripts/setup-host.sh). */
export async function pdfPages(file: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'], { maxBuffer: 64 * 1024 * 1024 }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(
        'pdftotext is missing: install poppler-utils (`apt-get install poppler-utils`, or run scripts/setup-host.sh).',
        { cause: error },
      );
    throw error;
  }
  // pdftotext ends every page with a form feed.
  const pages = stdout.split('\f');
  if (pages.at(-1)?.trim() === '') pages.pop();
  return pages;
}

/**
 * Splits a PDF's pages into the students' sections: a section starts on the page whose first line is its
 * heading ("Étudiant N · classe C"), and runs until the next one.
 */
export function sectionsByStudent(pages: string[]): { student: number; firstPage: number; text: string }[] {
  const sections: { student: number; firstPage: number; text: string }[] = [];
  pages.forEach((page, i) => {
    const heading = /^\s*Étudiant (\d+) · classe /.exec(page);
    if (heading) sections.push({ student: Number(heading[1]), firstPage: i + 1, text: page });
    else if (sections.length > 0) sections[sections.length - 1]!.text += `\f${page}`;
  });
  return sections;
}
