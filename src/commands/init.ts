import { existsSync } from 'node:fs';
import { classFilePath, writeClassFile, type ClassFile } from '../core/class-file.js';
import { DEFAULT_LAB, loadLab } from '../core/lab.js';
import { validateClassOptions } from '../core/plan.js';
import { DEFAULT_BASE_PORT } from '../core/ports.js';
import type { Reporter } from '../ui/reporter.js';
import { DEFAULT_CLASS, defaultContext, defaultHost, type Context, type RunOptions } from './context.js';

export interface InitOptions extends RunOptions {
  className?: string;
  students?: number;
  basePort?: number;
  host?: string;
  lab?: string;
  passwords?: 'lab' | 'random';
  output?: string;
  force?: boolean;
}

/** Asks (on a terminal) what a flag did not say; off a terminal the defaults answer. */
async function ask(options: InitOptions, reporter: Reporter): Promise<Omit<ClassFile, 'bind'>> {
  const defaults = {
    class: options.className ?? DEFAULT_CLASS,
    students: options.students ?? 19,
    basePort: options.basePort ?? DEFAULT_BASE_PORT,
    host: options.host ?? defaultHost(),
    lab: options.lab ?? DEFAULT_LAB,
    passwords: options.passwords ?? ('lab' as const),
  };
  const positive = (v: unknown) => (Number.isInteger(Number(v)) && Number(v) > 0 ? true : 'a whole number above 0');
  const questions = [
    {
      name: 'class',
      type: 'input',
      message: 'Class name (labels every Docker object):',
      default: defaults.class,
      skip: options.className,
    },
    {
      name: 'students',
      type: 'number',
      message: 'How many students?',
      default: defaults.students,
      validate: positive,
      skip: options.students,
    },
    {
      name: 'basePort',
      type: 'number',
      message: 'Base port (student n uses base + n*100 + 25/10/43/22/80):',
      default: defaults.basePort,
      validate: positive,
      skip: options.basePort,
    },
    {
      name: 'host',
      type: 'input',
      message: 'Address the students connect to:',
      default: defaults.host,
      skip: options.host,
    },
    {
      name: 'lab',
      type: 'input',
      message: 'Lab (a name of labs/, or a path):',
      default: defaults.lab,
      skip: options.lab,
    },
    {
      name: 'passwords',
      type: 'select',
      message: 'Passwords:',
      choices: [
        { name: "the lab's (master2021) for everyone, as in the TD", value: 'lab' },
        { name: 'each student their own, printed on their card', value: 'random' },
      ],
      default: defaults.passwords,
      skip: options.passwords,
    },
  ];
  const pending = questions.filter((q) => q.skip === undefined).map(({ skip: _skip, ...q }) => q);
  const answers = await reporter.ask(pending);
  return {
    ...defaults,
    ...answers,
    students: Number(answers.students ?? defaults.students),
    basePort: Number(answers.basePort ?? defaults.basePort),
  };
}

/** Writes the class file that `up`, `down`, `info`, `check`… read by default. */
export async function init(options: InitOptions, ctx: Context = defaultContext(options)): Promise<ClassFile> {
  const file = options.output ?? classFilePath();
  if (existsSync(file)) {
    await ctx.reporter.confirm(`${file} already exists. Replace it?`, {
      yes: options.force,
      flag: '--force',
      refusal: `${file} already exists; nothing was written`,
      cancelled: 'Cancelled; nothing was written.',
    });
  }
  const answers = await ask(options, ctx.reporter);
  const data: ClassFile = { ...answers, bind: '0.0.0.0' };
  validateClassOptions({
    className: data.class,
    students: data.students,
    basePort: data.basePort,
    host: data.host,
    bind: data.bind,
    mailImage: '',
    sidecarImage: '',
    token: '',
    passwords: data.passwords,
  });
  await loadLab(data.lab);
  await writeClassFile(file, data);
  ctx.reporter.result(
    `Wrote ${file}: class ${data.class}, ${data.students} students, base port ${data.basePort}, students connect to ${data.host}.\nNext: labctl up`,
    data,
  );
  return data;
}
