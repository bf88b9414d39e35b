import { readFile } from 'node:fs/promises';
import { packagePath } from '../paths.js';
import path from 'node:path';
import ejs from 'ejs';

export const TEMPLATES_DIR = packagePath('templates');

const cache = new Map<string, Promise<ejs.TemplateFunction>>();

function compiled(name: string): Promise<ejs.TemplateFunction> {
  let template = cache.get(name);
  if (!template) {
    const file = path.join(TEMPLATES_DIR, name);
    template = readFile(file, 'utf8').then((text) => ejs.compile(text, { filename: file }));
    cache.set(name, template);
  }
  return template;
}

/** Renders templates/<name> (an ejs file) with the given values. */
export async function render(name: string, values: Record<string, unknown>): Promise<string> {
  return (await compiled(name))(values);
}
