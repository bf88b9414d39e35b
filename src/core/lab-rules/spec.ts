/**
 * The evidence and the exercises of a lab file, as JSON (what the YAML says, checked by src/core/lab.ts and compiled by
 * compile.ts). labctl checks them when it loads a lab; the sidecar compiles them again from its environment. See
 * "Lab format" in the README.
 */

/** A condition on one field: a value it must equal, or operators that must all hold. */
export type Condition = string | number | boolean | ConditionMap;

export interface ConditionMap {
  /** A class (present, absent, empty, inside, outside, real-domain, account) or several, all of which hold. */
  is?: string | string[];
  /** Classes none of which holds. */
  isnt?: string | string[];
  not?: Condition;
  min?: number;
  max?: number;
  /** A substring, whatever the case. */
  contains?: string;
  in?: (string | number)[];
  /** The value of another field. */
  same?: string;
  /** A list: one element / no element meets these conditions. */
  some?: Where;
  none?: Where;
  /** A list: its length meets this condition. */
  count?: Condition;
}

/** Field paths and their conditions, all of which must hold; `any` lists alternatives, one of which must. */
export type Where = Record<string, unknown>;

/** One kind of line of the verification log, and the event it is. */
export interface LinePattern {
  /** The syslog tag's program (`postfix/smtpd`, `pop3d`), or several; `*` matches any characters. */
  program?: string | string[];
  /** The message after the tag: text, `{field:type}` captures and `{? optional parts}`. */
  match?: string;
  /** Another pattern whose program, match, within and set this one starts from. */
  like?: string;
  /** Templates a captured field must also match, adding their fields. */
  within?: Record<string, string>;
  where?: Where;
  /** Fields made from the others (text templates). */
  set?: Record<string, string>;
  /** Only lines whose sender the kernel says is root, or Postfix (both are trusted; a lab cannot add another). */
  uid?: 'root' | 'postfix' | ('root' | 'postfix')[];
}

/** How lines that share a key (Postfix's queue id) and Postfix's copy of the message make one message. */
export interface MessageSpec {
  key: string;
  /** The events a message needs before the rules `on: message` look at it (with its copy). */
  complete?: string[];
  /** The envelope sender (a text template over the message); else the copy's Return-Path. */
  sender?: string;
  /** The message came as the client sent it: Postfix's cleanup added no header. */
  untouched?: { on: string; where?: Where };
  /** Lists of distinct values, one per event of a kind (at most 10). */
  lists?: Record<string, { on: string; value: string }>;
}

/** How an SMTP session's lines make one: those of one smtpd process (its pid) from a connect on. */
export interface SessionSpec {
  key: string;
  /** The event that starts its key's session anew. */
  opens: string;
}

export interface EvidenceSpec {
  lines: Record<string, LinePattern>;
  message?: MessageSpec;
  session?: SessionSpec;
}

/** When a rule is looked at (`on` an event, or a message), what must hold, and what it says (in French). */
export interface RuleSpec {
  on: string;
  /** For a message: the first of the copy's attachments that meets these, named `part`; the rule needs one. */
  part?: Where;
  where?: Where;
  say: string;
  /** The event whose time the credit takes (a path such as message.delivered); by default the line that earned it. */
  at?: string;
}

export interface ExerciseSpec {
  id: string;
  title: string;
  /** One rule, or several: any of them credits the exercise. */
  credit: RuleSpec | RuleSpec[];
  /** Near misses: the latest one that holds is the student's hint. */
  hints?: RuleSpec[];
}

export interface LabRules {
  evidence: EvidenceSpec;
  exercises: ExerciseSpec[];
}

/** A problem in a lab's rules: where (a path of keys and indexes in the lab file) and what. */
export class SpecError extends Error {
  constructor(
    readonly path: (string | number)[],
    message: string,
  ) {
    super(message);
  }
}
