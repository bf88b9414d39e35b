import { ARCHIVE } from '../limits.js';
import { isInsideLab, isSpoofedSender, splitAddress } from './address.js';
import { SpecError, type Condition, type Where } from './spec.js';
import { resolve } from './template.js';

/** What the address classes need: the student's domain (its class's holds it) and the accounts of their server. */
export interface RuleContext {
  cardDomain: string;
  accounts: ReadonlySet<string>;
}

export type Predicate = (scope: unknown, ctx: RuleContext) => boolean;

/**
 * The classes `is:` and `isnt:` name. A field that is not there is `absent` and nothing else: it meets no condition
 * but `is: absent` (and `isnt: present`).
 */
export const CLASSES: Record<string, (value: string, ctx: RuleContext) => boolean> = {
  present: () => true,
  absent: () => false,
  empty: (v) => v === '',
  /** A bare user, localhost, the class's domain or under it. */
  inside: (v, ctx) => isInsideLab(v, ctx.cardDomain),
  /** An address of the grammar that is not inside (nor labctl's archive). */
  outside: (v, ctx) =>
    splitAddress(v) !== undefined && v.toLowerCase() !== ARCHIVE.address && !isInsideLab(v, ctx.cardDomain),
  /** An address at a real outside domain (see isSpoofedSender). */
  'real-domain': (v, ctx) => isSpoofedSender(v, ctx.cardDomain),
  /** One of the accounts of the student's server. */
  account: (v, ctx) => ctx.accounts.has(v),
};

const OPERATORS = ['is', 'isnt', 'not', 'min', 'max', 'contains', 'in', 'same', 'some', 'none', 'count'];

const isScalar = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** Checks the field paths a condition reads; `check` throws a SpecError for an unknown one. */
export type PathCheck = (path: string, where: (string | number)[]) => void;

function classes(value: unknown, path: (string | number)[]): string[] {
  const list = Array.isArray(value) ? value : [value];
  for (const c of list) {
    if (typeof c !== 'string' || !(c in CLASSES))
      throw new SpecError(path, `"${String(c)}" is not a class (${Object.keys(CLASSES).join(', ')})`);
  }
  return list as string[];
}

function has(value: unknown, name: string, ctx: RuleContext): boolean {
  if (value === undefined || value === null) return name === 'absent';
  if (name === 'absent') return false;
  return CLASSES[name]!(String(value), ctx);
}

/** A test of one field's value; the scope is there for `same`. */
type ValueTest = (value: unknown, ctx: RuleContext, scope: unknown) => boolean;

function compileCondition(condition: unknown, path: (string | number)[], check: PathCheck): ValueTest {
  if (isScalar(condition)) {
    return (value) => value !== undefined && value !== null && String(value) === String(condition);
  }
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition)) {
    throw new SpecError(path, 'a value, or a map of conditions (is, isnt, not, min, max, contains, in, same, …)');
  }
  const tests: ValueTest[] = [];
  for (const [op, arg] of Object.entries(condition as Record<string, unknown>)) {
    const at = [...path, op];
    const num = () => {
      if (typeof arg !== 'number') throw new SpecError(at, 'a number');
      return arg;
    };
    switch (op) {
      case 'is': {
        const list = classes(arg, at);
        tests.push((v, ctx) => list.every((c) => has(v, c, ctx)));
        break;
      }
      case 'isnt': {
        const list = classes(arg, at);
        tests.push((v, ctx) =>
          v === undefined || v === null ? list.includes('present') : list.every((c) => !has(v, c, ctx)),
        );
        break;
      }
      case 'not': {
        const inner = compileCondition(arg, at, check);
        tests.push((v, ctx, scope) => v !== undefined && v !== null && !inner(v, ctx, scope));
        break;
      }
      case 'min': {
        const n = num();
        tests.push((v) => v !== undefined && v !== null && Number(v) >= n);
        break;
      }
      case 'max': {
        const n = num();
        tests.push((v) => v !== undefined && v !== null && Number(v) <= n);
        break;
      }
      case 'contains': {
        if (typeof arg !== 'string') throw new SpecError(at, 'a text');
        const needle = arg.toLowerCase();
        tests.push((v) => typeof v === 'string' && v.toLowerCase().includes(needle));
        break;
      }
      case 'in': {
        if (!Array.isArray(arg) || !arg.every(isScalar)) throw new SpecError(at, 'a list of values');
        const values = arg.map(String);
        tests.push((v) => v !== undefined && v !== null && values.includes(String(v)));
        break;
      }
      case 'same': {
        if (typeof arg !== 'string') throw new SpecError(at, 'a field path');
        check(arg, at);
        tests.push((v, _ctx, scope) => {
          const other = resolve(scope, arg);
          return v !== undefined && v !== null && other !== undefined && other !== null && String(v) === String(other);
        });
        break;
      }
      case 'some':
      case 'none': {
        const inner = compileWhere(arg, at, () => {});
        tests.push((v, ctx) => {
          if (!Array.isArray(v)) return false;
          const found = v.some((item) => inner(item, ctx));
          return op === 'some' ? found : !found;
        });
        break;
      }
      case 'count': {
        const inner = compileCondition(arg, at, check);
        tests.push((v, ctx, scope) => Array.isArray(v) && inner(v.length, ctx, scope));
        break;
      }
      default:
        throw new SpecError(at, `"${op}" is not a condition (${OPERATORS.join(', ')})`);
    }
  }
  return (v, ctx, scope) => tests.every((t) => t(v, ctx, scope));
}

/**
 * Compiles `where`: field paths and their conditions, all of which must hold, and `any:` (a list of such maps, one of
 * which must hold).
 */
export function compileWhere(where: unknown, path: (string | number)[], check: PathCheck): Predicate {
  if (where === undefined) return () => true;
  if (where === null || typeof where !== 'object' || Array.isArray(where)) {
    throw new SpecError(path, 'a map of field paths and their conditions');
  }
  const tests: Predicate[] = [];
  for (const [field, condition] of Object.entries(where as Where)) {
    const at = [...path, field];
    if (field === 'any') {
      if (!Array.isArray(condition) || condition.length === 0) throw new SpecError(at, 'a list of conditions');
      const alternatives = condition.map((c, i) => compileWhere(c, [...at, i], check));
      tests.push((scope, ctx) => alternatives.some((a) => a(scope, ctx)));
      continue;
    }
    check(field, at);
    const test = compileCondition(condition, at, check);
    tests.push((scope, ctx) => test(resolve(scope, field), ctx, scope));
  }
  return (scope, ctx) => tests.every((t) => t(scope, ctx));
}

export type { Condition };
