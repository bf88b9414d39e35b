import { ADDRESS_PATTERN, accountOf } from './address.js';
import { SpecError } from './spec.js';

/**
 * What a capture of a line template matches, and what the field becomes. Each is the exact shape of a piece of a
 * Postfix or Courier line, so that a student's text (an address, a HELO name) is read whole, never as a field.
 */
export const FIELD_TYPES = {
  /** A Postfix queue id. */
  queue: '[0-9A-Za-z]+',
  /** A mail address as Postfix logs it between < and > (one grammar: src/core/lab-rules/address.ts); may be empty. */
  address: ADDRESS_PATTERN,
  /** A client's name before its [address]. */
  host: '[^\\s[]*',
  /** What is inside [ ]. */
  ip: '[^\\]]*',
  /** What is inside < > when it is not an address. */
  angled: '[^>]*',
  int: '\\d+',
  word: '\\S+',
  name: '\\w+',
  /** A value of Postfix's `key=value, ` lists. */
  value: '[^,\\s]*',
  /** An enhanced status code, 5.7.1. */
  dsn: '\\d\\.\\d{1,3}\\.\\d{1,3}',
  /** As little text as lets the rest match. */
  text: '.*?',
  rest: '.*',
  /** `key=N` tallies (smtpd's `helo=1 mail=1 rcpt=0/2`): the accepted count of each, 0 when it is not there. */
  counts: '.*',
  /** The same, each command with `.ok` (accepted) and `.tried`. */
  commands: '.*',
  /** `key=value`, `key=[value]` and `key=<value>` pairs from the first one on (`user=util1, ip=[…]`). */
  fields: '\\b\\w+=.*',
} as const;

export type FieldType = keyof typeof FIELD_TYPES;

export interface Capture {
  name: string;
  type: FieldType;
}

export interface LineTemplate {
  regex: RegExp;
  captures: Capture[];
}

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Compiles a line template: text is literal, `{name:type}` captures a field (`{name}` is a word, `{_:type}` matches
 * without keeping), `{? … }` is optional. Braces are never literal (a brace in a line is matched by a capture). The
 * whole line must match.
 */
export function compileLine(template: string, path: (string | number)[]): LineTemplate {
  const captures: Capture[] = [];
  let i = 0;
  const fail = (message: string): never => {
    throw new SpecError(path, `${message} in "${template}" (at character ${i + 1})`);
  };
  const parse = (nested: boolean): string => {
    let out = '';
    while (i < template.length) {
      const c = template[i]!;
      if (c === '}') {
        if (!nested) fail('a "}" closes nothing');
        i++;
        return out;
      } else if (template.startsWith('{?', i)) {
        i += 2;
        out += `(?:${parse(true)})?`;
      } else if (c === '{') {
        const end = template.indexOf('}', i);
        if (end < 0) fail('a "{" is not closed');
        const [name = '', type = 'word'] = template.slice(i + 1, end).split(':');
        if (!FIELD_NAME.test(name)) fail(`"${name}" is not a field name (letters, digits, _)`);
        if (!(type in FIELD_TYPES)) fail(`"${type}" is not a type (${Object.keys(FIELD_TYPES).join(', ')})`);
        const pattern = FIELD_TYPES[type as FieldType];
        if (name === '_') out += `(?:${pattern})`;
        else {
          if (captures.some((c) => c.name === name)) fail(`the field "${name}" is captured twice`);
          out += `(?<f${captures.length}>${pattern})`;
          captures.push({ name, type: type as FieldType });
        }
        i = end + 1;
      } else {
        out += escapeRegex(c);
        i++;
      }
    }
    if (nested) fail('a "{?" is not closed');
    return out;
  };
  const source = parse(false);
  return { regex: new RegExp(`^${source}$`), captures };
}

/** Smtpd's tallies: a command not there was typed 0 times. */
export class Tally {
  constructor(
    readonly values: Record<string, number>,
    readonly tried?: Record<string, number>,
  ) {}

  get(key: string): unknown {
    if (!this.tried) return this.values[key] ?? 0;
    return { ok: this.values[key] ?? 0, tried: this.tried[key] ?? 0 };
  }

  without(key: string): Tally {
    const { [key]: _, ...values } = this.values;
    return new Tally(values, this.tried);
  }

  /** As smtpd writes it: `k=N`, or `k=ok/tried` for commands some of which were refused. */
  toString(): string {
    return Object.entries(this.values)
      .map(([k, n]) => (this.tried && this.tried[k] !== n ? `${k}=${n}/${this.tried[k]}` : `${k}=${n}`))
      .join(' ');
  }
}

/** The value of a capture, as its type reads it. */
export function captureValue(type: FieldType, text: string): unknown {
  switch (type) {
    case 'int':
      return Number(text);
    case 'counts':
    case 'commands': {
      const ok: Record<string, number> = {};
      const tried: Record<string, number> = {};
      for (const m of text.matchAll(/(?:^|[\s,])(\w+)=(\d+)(?:\/(\d+))?(?=[\s,]|$)/g)) {
        ok[m[1] ?? ''] = Number(m[2]);
        tried[m[1] ?? ''] = Number(m[3] ?? m[2]);
      }
      return type === 'counts' ? new Tally(ok) : new Tally(ok, tried);
    }
    case 'fields': {
      const out: Record<string, string> = {};
      for (const m of text.matchAll(/(\w+)=(?:<([^>]*)>|\[([^\]]*)\]|([^,\s]*))/g)) {
        out[m[1] ?? ''] = m[2] ?? m[3] ?? m[4] ?? '';
      }
      return out;
    }
    default:
      return text;
  }
}

/** The fields a matched line gives. */
export function readCaptures(template: LineTemplate, m: RegExpExecArray): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  template.captures.forEach((c, i) => {
    const text = m.groups?.[`f${i}`];
    if (text !== undefined) fields[c.name] = captureValue(c.type, text);
  });
  return fields;
}

// ---------------------------------------------------------------- paths

/** The value at a dotted path (`message.delivered.to`); tallies answer 0 for a command not there. */
export function resolve(scope: unknown, path: string): unknown {
  let value = scope;
  for (const key of path.split('.')) {
    if (value === undefined || value === null) return undefined;
    if (value instanceof Tally) value = value.get(key);
    else if (typeof value === 'object') value = (value as Record<string, unknown>)[key];
    else return undefined;
  }
  return value;
}

// ---------------------------------------------------------------- text templates

/** A short value the student typed, in a hint: on one line, at most 60 characters. */
export function short(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}

const FILTERS: Record<string, (value: unknown, arg: string | undefined) => unknown> = {
  upper: (v) => String(v).toUpperCase(),
  lower: (v) => String(v).toLowerCase(),
  trim: (v) => String(v).trim(),
  short: (v) => short(String(v)),
  first: (v, arg) =>
    Array.isArray(v) ? v[0] : arg === undefined ? String(v) : String(v).slice(0, Number(arg) || undefined),
  account: (v) => accountOf(String(v)),
  join: (v, arg) => (Array.isArray(v) ? v.join(arg ?? ', ') : v),
  without: (v, arg) => (v instanceof Tally && arg !== undefined ? v.without(arg) : v),
  tally: (v) => (v instanceof Tally ? v.toString() : v),
};

export interface TextTemplate {
  render(scope: unknown): string;
  /** The paths it reads, for checking them against the events. */
  paths: string[];
  /** Set when the template is one expression: its value as it is (a number, a list, or absent). */
  value?: (scope: unknown) => unknown;
}

interface Expression {
  alternatives: ({ literal: string } | { path: string })[];
  filters: { name: string; arg?: string }[];
}

const PATH = /^[A-Za-z_][\w-]*(?:\.[\w-]+)*$/;

/** Splits on `sep` outside double quotes. */
function splitOutside(text: string, sep: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function parseExpression(text: string, fail: (m: string) => never): Expression {
  const [head = '', ...filters] = splitOutside(text, '|');
  const alternatives = splitOutside(head, ' or ').map((alt) => {
    const a = alt.trim();
    if (/^"[^"]*"$/.test(a)) return { literal: a.slice(1, -1) };
    if (!PATH.test(a)) fail(`"${a}" is neither a field path nor a "quoted text"`);
    return { path: a };
  });
  return {
    alternatives,
    filters: filters.map((f) => {
      const colon = f.indexOf(':');
      const name = (colon < 0 ? f : f.slice(0, colon)).trim();
      if (!(name in FILTERS)) fail(`"${name}" is not a filter (${Object.keys(FILTERS).join(', ')})`);
      return colon < 0 ? { name } : { name, arg: f.slice(colon + 1) };
    }),
  };
}

function evaluate(e: Expression, scope: unknown): unknown {
  let value: unknown;
  for (const alt of e.alternatives) {
    value = 'literal' in alt ? alt.literal : resolve(scope, alt.path);
    if (value !== undefined && value !== null) break;
  }
  for (const f of e.filters) if (value !== undefined && value !== null) value = FILTERS[f.name]!(value, f.arg);
  return value;
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

/**
 * Compiles a text template: text with `{expression}`s, each a field path or a "quoted text", alternatives joined by
 * ` or ` (the first that is there), then `|filter` or `|filter:argument`s. `{{` and `}}` are braces. A field that is
 * not there prints nothing.
 */
export function compileText(template: string, path: (string | number)[]): TextTemplate {
  const parts: (string | Expression)[] = [];
  const fail = (message: string): never => {
    throw new SpecError(path, `${message} in "${template}"`);
  };
  let literal = '';
  for (let i = 0; i < template.length; i++) {
    if (template.startsWith('{{', i) || template.startsWith('}}', i)) {
      literal += template[i];
      i++;
    } else if (template[i] === '{') {
      const end = template.indexOf('}', i);
      if (end < 0) fail('a "{" is not closed');
      if (literal) parts.push(literal);
      literal = '';
      parts.push(parseExpression(template.slice(i + 1, end), fail));
      i = end;
    } else if (template[i] === '}') fail('a "}" closes nothing');
    else literal += template[i];
  }
  if (literal) parts.push(literal);
  const paths = parts.flatMap((p) =>
    typeof p === 'string' ? [] : p.alternatives.flatMap((a) => ('path' in a ? [a.path] : [])),
  );
  const only = parts.length === 1 && typeof parts[0] !== 'string' ? parts[0] : undefined;
  return {
    paths,
    render: (scope) => parts.map((p) => (typeof p === 'string' ? p : text(evaluate(p, scope)))).join(''),
    ...(only && { value: (scope: unknown) => evaluate(only, scope) }),
  };
}
