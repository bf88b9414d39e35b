import { archiveClass, type ArchiveSummary } from '../core/class-archive.js';
import { noteArchived } from '../core/class-session.js';
import { observeClass } from '../core/observed-class.js';
import { formatBytes } from '../core/reconcile.js';
import { LabctlError, usageError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export interface ArchiveOptions extends RunOptions {
  className?: string;
  student?: number;
  output?: string;
}

export interface ArchiveResult extends ArchiveSummary {
  file: string;
  bytes: number;
  seconds: number;
}

/**
 * `labctl archive --output FILE.tar.gz`: per student what their server holds of what they did, their credits and
 * who sat there, with a manifest signed with the class's archive key (see core/class-archive.ts).
 */
export async function archive(options: ArchiveOptions, ctx: Context = defaultContext(options)): Promise<ArchiveResult> {
  if (!options.output)
    throw usageError('Where to write the archive? Give --output FILE.tar.gz.', 'e.g. --output td1-2026-12-02.tar.gz');
  const className = options.className ?? DEFAULT_CLASS;
  const started = Date.now();
  await ctx.engine.ping();
  const observed = await observeClass(ctx.engine, className, options.student);
  const who = options.student === undefined ? `class ${className}` : `student ${options.student} of class ${className}`;
  const { stream, done } = archiveClass(ctx.engine, observed, { signal: ctx.signal });
  const bytes = await ctx.reporter.task(`Archiving ${who}`, async () => {
    // Both settle before the command ends: a failed archive's partial file is gone by then.
    const [written, made] = await Promise.allSettled([
      ctx.reporter.writeStream(options.output!, stream, { private: true, signal: ctx.signal }),
      done,
    ]);
    // Ctrl-C stopped the write, which left no file (once the file is whole, a Ctrl-C changes nothing here).
    if (made.status === 'rejected' || written.status === 'rejected') ctx.signal.throwIfAborted();
    if (made.status === 'rejected') throw made.reason;
    if (written.status === 'rejected') throw written.reason;
    return written.value;
  });
  const summary = await done;
  // Written whole: a graded class may now be purged (down --purge asks for an archive made after the end). A Ctrl-C
  // from here on does not stop this short step, so a whole archive is never left unrecorded; the wait for the
  // class's lock stays bounded (class-busy after 60 s, which says so).
  await noteArchived(ctx.engine, className, summary.students, summary.createdAt).catch((error: unknown) => {
    if (error instanceof LabctlError)
      throw new LabctlError(
        error.exitCode,
        `${options.output} is written whole, but the class does not yet know of it, so \`down --purge\` still asks for an archive: ${error.message}`,
        'Run the same `labctl archive` again once that command has ended.',
        error.code,
      );
    throw error;
  });
  const result: ArchiveResult = {
    ...summary,
    file: options.output,
    bytes,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  ctx.reporter.result(
    [
      `Wrote ${result.file} (${formatBytes(bytes)}): ${result.files} files of ${who} (${result.students.length} student${result.students.length > 1 ? 's' : ''}), in ${result.seconds} s, readable by you only.`,
      `Check it with \`labctl verify-archive ${result.file}\`; once the class is gone, add --key ${result.key} (keep this key with the archive's owner, not with the archive: it also signs).`,
    ].join('\n'),
    result,
  );
  return result;
}
