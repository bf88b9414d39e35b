import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { verifyArchive, type Verdict } from '../core/class-archive.js';
import { tokenOf } from '../core/observed-class.js';
import { archiveKey } from '../core/token.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { defaultContext, type Context, type RunOptions } from './context.js';

export interface VerifyArchiveOptions extends RunOptions {
  file: string;
  /** The archive key `labctl archive` printed; without it, the key of the class on the engine. */
  key?: string;
}

/** `labctl verify-archive FILE`: intact (exit 0), or which file changed, went missing or was added (exit 7). */
export async function verifyArchiveCommand(
  options: VerifyArchiveOptions,
  ctx: Context = defaultContext(options),
): Promise<Verdict> {
  await access(options.file).catch(() => {
    throw usageError(`No archive at ${options.file}.`);
  });
  const keyFor = async (className: string) => {
    if (options.key) return options.key;
    await ctx.engine.ping();
    const token = tokenOf(await ctx.engine.list(className));
    if (!token)
      throw usageError(
        `Class ${className} is not on this Docker engine, so its key cannot be derived here.`,
        'Give --key KEY, as `labctl archive` printed it.',
      );
    return archiveKey(token, className);
  };
  const verdict = await verifyArchive(createReadStream(options.file), keyFor);
  if (!verdict.intact) {
    throw new LabctlError(
      ExitCode.changed,
      `${options.file} is NOT intact:\n${verdict.problems.map((p) => `  ${p}`).join('\n')}`,
      'Compare it with another copy of the archive; a file named here is not what labctl wrote.',
      'changed',
    );
  }
  const m = verdict.manifest!;
  ctx.reporter.result(
    `${options.file} is intact: ${m.files.length} files of class ${m.class} (student${m.students.length > 1 ? 's' : ''} ${m.students.join(', ')}), written ${m.createdAt}, signed with the class's archive key.`,
    verdict,
  );
  return verdict;
}
