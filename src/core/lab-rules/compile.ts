import { compileWhere, type PathCheck, type Predicate } from './conditions.js';
import { SpecError, type ExerciseSpec, type LabRules, type LinePattern, type RuleSpec } from './spec.js';
import { compileLine, compileText, type FieldType, type LineTemplate, type TextTemplate } from './template.js';

/** Fields every event has: the time rsyslog received the line, the sender's uid and pid (the kernel's), its tag. */
export const LINE_FIELDS = ['time', 'uid', 'pid', 'host', 'program', 'daemon'];
/** What the copy of a message (Postfix's, in the archive) says, and what each of its attachments says. */
export const COPY_FIELDS = ['subject', 'from', 'to', 'returnPath', 'boundary', 'attachments', 'size'];
export const PART_FIELDS = ['filename', 'type', 'disposition', 'encoding', 'size'];
/** Types whose field has fields of its own (`counts.rcpt`, `fields.user`). */
const NESTED: FieldType[] = ['counts', 'commands', 'fields'];

export interface CompiledPattern {
  name: string;
  program: RegExp;
  line: LineTemplate;
  within: { field: string; line: LineTemplate }[];
  where: Predicate;
  set: { field: string; text: TextTemplate }[];
  uids?: ('root' | 'postfix')[];
}

export interface CompiledRule {
  exercise: string;
  hint: boolean;
  on: string;
  /** The groups it reads (`message.…`, `session.…`; a rule on a message reads it). */
  reads: GroupName[];
  part?: Predicate;
  where: Predicate;
  say: TextTemplate;
  at?: string;
}

/** The two groups lines can make: a message (by queue id, with Postfix's copy) and a session (by smtpd's pid). */
export type GroupName = 'message' | 'session';
export const GROUPS: GroupName[] = ['message', 'session'];

export interface CompiledGroup {
  name: GroupName;
  key: string;
  /** A session: the event that starts its key's session anew (smtpd's connect). */
  opens?: string;
  /** A message: the events it needs before the rules `on: message` look at it (with its copy). */
  complete: string[];
  /**
   * The events a group keeps: those the rules read through `message.` or `session.`, how many of each (a list's, up
   * to 20) and which of their fields (always their time).
   */
  keeps: Map<string, { count: number; fields: Set<string> | 'all' }>;
  sender?: TextTemplate;
  untouched?: { on: string; where: Predicate };
  lists: { name: string; on: string; value: TextTemplate }[];
}

export interface CompiledLab {
  patterns: CompiledPattern[];
  groups: CompiledGroup[];
  rules: CompiledRule[];
  /** Each event and its fields: true for a field with fields of its own. */
  events: Map<string, Map<string, boolean>>;
}

const EVENT_NAME = /^[a-z][a-z0-9-]*$/;
/** Names a group's view already uses. */
const RESERVED = ['message', 'session', 'copy', 'written', 'untouched', 'part'];
const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** `postfix/*` and lists of such names as one expression; `*` matches any characters, `/` included. */
function programRegex(program: string | string[] | undefined, path: (string | number)[]): RegExp {
  const globs = asList(program);
  if (globs.length === 0 || !globs.every((g) => typeof g === 'string' && g !== ''))
    throw new SpecError(path, 'a program name (postfix/smtpd, pop3d; * matches anything), or a list of them');
  const source = globs.map((g) => g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')).join('|');
  return new RegExp(`^(?:${source})$`);
}

/** A pattern with what it takes from the one it is `like`. */
function resolveLike(lines: Record<string, LinePattern>, name: string, seen: string[] = []): LinePattern {
  const p = lines[name]!;
  if (p.like === undefined) return p;
  if (!(p.like in lines)) throw new SpecError(['evidence', 'lines', name, 'like'], `no line pattern "${p.like}"`);
  if (seen.includes(p.like)) throw new SpecError(['evidence', 'lines', name, 'like'], `"like" goes round in a circle`);
  const base = resolveLike(lines, p.like, [...seen, name]);
  return {
    program: p.program ?? base.program,
    match: p.match ?? base.match,
    within: { ...base.within, ...p.within },
    set: { ...base.set, ...p.set },
    ...((p.where ?? base.where) !== undefined && { where: p.where ?? base.where }),
    ...((p.uid ?? base.uid) !== undefined && { uid: p.uid ?? base.uid }),
  };
}

function compilePattern(
  lines: Record<string, LinePattern>,
  name: string,
): { pattern: Omit<CompiledPattern, 'where'>; where: unknown; fields: Map<string, boolean> } {
  const path = ['evidence', 'lines', name];
  if (!EVENT_NAME.test(name) || RESERVED.includes(name))
    throw new SpecError(
      path,
      `"${name}" is not an event name (lower-case letters, digits, dashes; not ${RESERVED.join(', ')})`,
    );
  const spec = resolveLike(lines, name);
  if (typeof spec.match !== 'string') throw new SpecError([...path, 'match'], 'a line template');
  const line = compileLine(spec.match, [...path, 'match']);
  const fields = new Map<string, boolean>(LINE_FIELDS.map((f) => [f, false]));
  for (const c of line.captures) fields.set(c.name, NESTED.includes(c.type));
  const within = Object.entries(spec.within ?? {}).map(([field, template]) => {
    if (!fields.has(field)) throw new SpecError([...path, 'within', field], `the line has no field "${field}"`);
    const inner = compileLine(String(template), [...path, 'within', field]);
    for (const c of inner.captures) fields.set(c.name, NESTED.includes(c.type));
    return { field, line: inner };
  });
  const set = Object.entries(spec.set ?? {}).map(([field, template]) => {
    const text = compileText(String(template), [...path, 'set', field]);
    for (const p of text.paths) checkEventPath(fields, p, [...path, 'set', field]);
    return { field, text };
  });
  for (const { field } of set) fields.set(field, false);
  const uids = asList(spec.uid);
  if (!uids.every((u) => u === 'root' || u === 'postfix'))
    throw new SpecError([...path, 'uid'], 'root or postfix: the only senders whose lines are trusted');
  return {
    pattern: {
      name,
      program: programRegex(spec.program, [...path, 'program']),
      line,
      within,
      set,
      ...(uids.length > 0 && { uids }),
    },
    where: spec.where,
    fields,
  };
}

function checkEventPath(fields: Map<string, boolean>, path: string, at: (string | number)[], event = 'the line') {
  const [head = '', ...rest] = path.split('.');
  const nested = fields.get(head);
  if (nested === undefined)
    throw new SpecError(at, `${event} has no field "${head}" (it has ${[...fields.keys()].join(', ')})`);
  if (rest.length > 0 && !nested) throw new SpecError(at, `the field "${head}" has no fields of its own`);
}

/** Compiles a lab's evidence and exercises; a SpecError names the first problem and where it is. */
export function compileRules(rules: LabRules): CompiledLab {
  const lines = rules.evidence?.lines;
  if (!lines || typeof lines !== 'object') throw new SpecError(['evidence', 'lines'], 'a map of line patterns');
  const events = new Map<string, Map<string, boolean>>();
  const pending: { pattern: Omit<CompiledPattern, 'where'>; where: unknown; fields: Map<string, boolean> }[] = [];
  for (const name of Object.keys(lines)) {
    const compiled = compilePattern(lines, name);
    events.set(name, compiled.fields);
    pending.push(compiled);
  }
  const patterns = pending.map(({ pattern, where, fields }) => ({
    ...pattern,
    where: compileWhere(where, ['evidence', 'lines', pattern.name, 'where'], (p, at) => checkEventPath(fields, p, at)),
  }));
  const groups = GROUPS.flatMap((name) => compileGroup(name, rules, events));
  const compiled: CompiledLab = { patterns, groups, rules: [], events };
  const ids = new Set<string>();
  rules.exercises.forEach((exercise, i) => {
    if (ids.has(exercise.id)) throw new SpecError(['exercises', i, 'id'], `"${exercise.id}" appears twice`);
    ids.add(exercise.id);
    compiled.rules.push(...compileExercise(exercise, i, compiled));
  });
  return compiled;
}

function compileGroup(name: GroupName, rules: LabRules, events: Map<string, Map<string, boolean>>): CompiledGroup[] {
  const spec = rules.evidence[name];
  if (spec === undefined) return [];
  const path = ['evidence', name];
  if (typeof spec.key !== 'string' || ![...events.values()].some((f) => f.has(spec.key)))
    throw new SpecError(
      [...path, 'key'],
      `a field some line pattern captures (${name === 'message' ? 'queueId' : 'pid'})`,
    );
  const keyed = new Map([...events].filter(([, fields]) => fields.has(spec.key)));
  const eventOf = (event: unknown, at: (string | number)[]) => {
    if (typeof event !== 'string' || !keyed.has(event))
      throw new SpecError(at, `no event "${String(event)}" with a ${spec.key} (${[...keyed.keys()].join(', ')})`);
    return keyed.get(event)!;
  };
  const keeps: CompiledGroup['keeps'] = new Map();
  const keep = (event: string, count: number, fields: string[]) => {
    const k = keeps.get(event) ?? { count: 0, fields: new Set<string>(['time']) };
    k.count = Math.max(k.count, count);
    if (k.fields !== 'all') for (const f of fields) k.fields.add(f.split('.')[0]!);
    keeps.set(event, k);
  };
  const group: CompiledGroup = { name, key: spec.key, complete: [], keeps, lists: [] };
  if (name === 'session') {
    const opens = (spec as { opens?: string }).opens;
    eventOf(opens, [...path, 'opens']);
    group.opens = opens;
    return [group];
  }
  const message = spec as NonNullable<LabRules['evidence']['message']>;
  group.complete = asList(message.complete);
  group.complete.forEach((event, i) => {
    eventOf(event, [...path, 'complete', i]);
    keep(event, 1, []);
  });
  group.lists = Object.entries(message.lists ?? {}).map(([list, spec]) => {
    const at = [...path, 'lists', list];
    const fields = eventOf(spec?.on, [...at, 'on']);
    if (keyed.has(list) || RESERVED.includes(list) || list === group.key)
      throw new SpecError(at, `"${list}" is already a part of a message`);
    const value = compileText(String(spec.value), [...at, 'value']);
    for (const p of value.paths) checkEventPath(fields, p, [...at, 'value'], `the event "${spec.on}"`);
    keep(spec.on, 20, value.paths);
    return { name: list, on: spec.on, value };
  });
  if (message.untouched !== undefined) {
    const on = message.untouched.on;
    const fields = eventOf(on, [...path, 'untouched', 'on']);
    group.untouched = {
      on,
      where: compileWhere(message.untouched.where, [...path, 'untouched', 'where'], (p, at) => {
        checkEventPath(fields, p, at, `the event "${on}"`);
        keep(on, 1, [p]);
      }),
    };
  }
  if (message.sender !== undefined) {
    group.sender = compileText(String(message.sender), [...path, 'sender']);
    const check = groupPathCheck(keyed, group);
    for (const p of group.sender.paths) check(`message.${p}`, [...path, 'sender']);
  }
  return [group];
}

/** Paths under `message.` or `session.`: its events and their fields; a message's copy, written headers, lists. */
function groupPathCheck(keyed: Map<string, Map<string, boolean>>, group: CompiledGroup): PathCheck {
  return (path, at) => {
    const [, part = '', ...rest] = path.split('.');
    if (part === group.key) return;
    if (keyed.has(part)) {
      if (rest.length > 0) checkEventPath(keyed.get(part)!, rest.join('.'), at, `the event "${part}"`);
      // What the rules read of a group's events is all it keeps of them (`message.delivered` alone is its
      // presence and its time).
      const k = group.keeps.get(part) ?? { count: 1, fields: new Set<string>(['time']) };
      if (k.fields !== 'all' && rest[0] !== undefined) k.fields.add(rest[0]);
      group.keeps.set(part, k);
      return;
    }
    const parts = [group.key, ...keyed.keys()];
    if (group.name === 'message') {
      if (part === 'copy') {
        if (rest.length > 0 && !COPY_FIELDS.includes(rest[0]!))
          throw new SpecError(at, `a copy has no field "${rest[0]}" (it has ${COPY_FIELDS.join(', ')})`);
        return;
      }
      if (part === 'written') {
        if (rest.length > 0 && !['from', 'to'].includes(rest[0]!))
          throw new SpecError(at, `written has from and to only`);
        return;
      }
      if (part === 'untouched' || group.lists.some((l) => l.name === part)) return;
      parts.push('copy', 'written', 'untouched', ...group.lists.map((l) => l.name));
    }
    throw new SpecError(at, `a ${group.name} has no "${part}" (it has ${parts.join(', ')})`);
  };
}

function compileExercise(exercise: ExerciseSpec, i: number, lab: CompiledLab): CompiledRule[] {
  const credit = asList(exercise.credit);
  if (credit.length === 0) throw new SpecError(['exercises', i, 'credit'], 'a rule that credits the exercise');
  return [
    ...credit.map((rule, j) =>
      compileRule(rule, Array.isArray(exercise.credit) ? ['exercises', i, 'credit', j] : ['exercises', i, 'credit'], {
        exercise: exercise.id,
        hint: false,
        lab,
      }),
    ),
    ...asList(exercise.hints).map((rule, j) =>
      compileRule(rule, ['exercises', i, 'hints', j], { exercise: exercise.id, hint: true, lab }),
    ),
  ];
}

function compileRule(
  rule: RuleSpec,
  path: (string | number)[],
  { exercise, hint, lab }: { exercise: string; hint: boolean; lab: CompiledLab },
): CompiledRule {
  if (rule === null || typeof rule !== 'object') throw new SpecError(path, 'a rule (on, where, say)');
  const onMessage = rule.on === 'message';
  const fields = lab.events.get(rule.on);
  if (!onMessage && !fields)
    throw new SpecError(
      [...path, 'on'],
      `no event "${String(rule.on)}" (${[...lab.events.keys(), 'message'].join(', ')})`,
    );
  const message = lab.groups.find((g) => g.name === 'message');
  if (onMessage && !message)
    throw new SpecError([...path, 'on'], 'the lab says nothing of messages (evidence.message)');
  if (rule.part !== undefined && !onMessage)
    throw new SpecError([...path, 'part'], 'only a rule on a message has parts');
  const reads = new Set<GroupName>(onMessage ? ['message'] : []);
  const groupChecks = new Map(
    lab.groups
      .filter((g) => (onMessage ? g.name === 'message' : fields!.has(g.key)))
      .map((g) => [g.name, groupPathCheck(new Map([...lab.events].filter(([, f]) => f.has(g.key))), g)]),
  );
  const check: PathCheck = (p, at) => {
    const head = p.split('.')[0] ?? '';
    const group = groupChecks.get(head as GroupName);
    if (group) {
      reads.add(head as GroupName);
      return group(p, at);
    }
    if (head === 'part' && rule.part !== undefined) {
      const sub = p.split('.')[1];
      if (sub !== undefined && !PART_FIELDS.includes(sub))
        throw new SpecError(at, `an attachment has no field "${sub}" (it has ${PART_FIELDS.join(', ')})`);
      return;
    }
    if (onMessage) {
      if (p === message!.key) return;
      throw new SpecError(at, `a rule on a message reads ${message!.key}, message.… and part.…, not "${p}"`);
    }
    checkEventPath(fields!, p, at, `the event "${rule.on}"`);
  };
  if (typeof rule.say !== 'string' || rule.say.trim() === '')
    throw new SpecError([...path, 'say'], hint ? 'the hint, in French' : 'what earned the credit, in French');
  const say = compileText(rule.say, [...path, 'say']);
  for (const p of say.paths) check(p, [...path, 'say']);
  if (rule.at !== undefined) {
    if (typeof rule.at !== 'string') throw new SpecError([...path, 'at'], 'a path to an event (message.delivered)');
    check(rule.at, [...path, 'at']);
  }
  const where = compileWhere(rule.where, [...path, 'where'], check);
  return {
    exercise,
    hint,
    on: rule.on,
    reads: [...reads],
    ...(rule.part !== undefined && {
      part: compileWhere(rule.part, [...path, 'part'], (p, at) => {
        if (!PART_FIELDS.includes(p))
          throw new SpecError(at, `an attachment has no field "${p}" (it has ${PART_FIELDS.join(', ')})`);
      }),
    }),
    where,
    say,
    ...(rule.at !== undefined && { at: rule.at }),
  };
}
