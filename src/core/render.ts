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

const texts = new Map<string, ejs.TemplateFunction>();

/** Renders a template given as text (a lab's own, kept with the lab); `name` says where it came from in errors. */
export function renderText(name: string, template: string, values: Record<string, unknown>): string {
  let compiled = texts.get(template);
  if (!compiled) {
    compiled = ejs.compile(template, { filename: name });
    texts.set(template, compiled);
  }
  return compiled(values);
}
