/**
 * What the sidecar and labctl say to each other over HTTP: one set of schemas, imported by both. The sidecar
 * checks its answers against them before sending; labctl's SidecarClient parses every answer with them, so a
 * sidecar of another version gives a clear error instead of a board full of undefined.
 *
 * zod/mini (not zod): the sidecar is bundled for its image, and zod/mini's functions tree-shake, which keeps
 * the bundle and the sidecar's memory small. This file imports nothing else: the sidecar bundles it.
 */
import * as z from 'zod/mini';

/** One exercise on the student's page, in `labctl check` and on the board. */
export const ExerciseStatusSchema = z.object({
  id: z.string(),
  title: z.string(),
  done: z.boolean(),
  /** When it was credited (ISO), if the log tells. */
  at: z.nullable(z.string()),
  /** What earned the credit, in French (the student reads it). */
  evidence: z.nullable(z.string()),
  /** For an exercise not done: one short hint, in French, about what the student did (never the answer). */
  hint: z.optional(z.string()),
  /**
   * Set when the exercise was first proved after the session's end (a graded session, see SessionSchema): it is not
   * done, and `at` and `evidence` say what came after the end.
   */
  afterEnd: z.optional(z.boolean()),
});
export type ExerciseStatus = z.infer<typeof ExerciseStatusSchema>;

/** GET /api/progress, each event of GET /api/stream, and the answer of POST /api/reset-progress. */
export const ProgressSchema = z.object({
  class: z.string(),
  student: z.number(),
  lab: z.string(),
  title: z.string(),
  done: z.number(),
  total: z.number(),
  exercises: z.array(ExerciseStatusSchema),
  /**
   * The last time the student made progress (ISO): their latest credit, else when progress began to count
   * (the sidecar's first start, or the last progress reset). The board marks a student stuck from it.
   */
  lastProgressAt: z.optional(z.string()),
  /**
   * Set when the sidecar cannot keep the student's progress (its file cannot be read, or cannot be written): why, for
   * the instructor. The credits shown are then held in memory only.
   */
  problem: z.optional(z.string()),
  /** The student's graded session as their sidecar holds it: its end (ISO, null: none), as students read it, and
   * the sidecar's clock when it answered. */
  session: z.optional(z.object({ end: z.nullable(z.string()), endText: z.optional(z.string()), now: z.string() })),
});
export type Progress = z.infer<typeof ProgressSchema>;

/**
 * POST /api/session (admin key): the end of this student's session (ISO; null: no time box), and how students read
 * it ("16:00", in the class's time zone). From then on the sidecar counts no credit proved after it.
 */
export const SessionSchema = z.object({ end: z.nullable(z.string()), endText: z.optional(z.string()) });
export type SessionEnd = z.infer<typeof SessionSchema>;

/**
 * One service of the student's server as its own kernel sees it (/proc/net/tcp, read by the mail container's
 * entrypoint every few seconds into the evidence, which students cannot write): `listening` on its port, `closed`
 * (nothing listens), or `stuck` (connections wait to be accepted at two reads in a row: the daemon no longer takes
 * them). `waiting`: the connections in its accept queue at the last read. Reading it asks nothing of the daemons.
 */
export const ListenerSchema = z.object({
  port: z.number(),
  state: z.enum(['listening', 'closed', 'stuck']),
  waiting: z.number(),
});
export type Listener = z.infer<typeof ListenerSchema>;

/**
 * GET /health: 200 with status ok, or 503 with why: stalled (its polls stopped) or unsaved (its progress file cannot be
 * read or written, see Progress.problem). `polls`: how many polls of the evidence have completed (a test waits for
 * two more after an act, instead of a fixed time, to know the sidecar has looked at everything written before it).
 * GET /health?poll also asks for a poll within a fifth of a second: the sidecar polls on each change of the evidence
 * and otherwise only every few seconds. `listeners`: each service of the student's server (ListenerSchema), when the
 * mail server has written them (an older image does not).
 */
export const HealthSchema = z.union([
  z.object({
    status: z.literal('ok'),
    student: z.number(),
    polls: z.optional(z.number()),
    listeners: z.optional(z.record(z.string(), ListenerSchema)),
  }),
  z.object({
    status: z.enum(['stalled', 'unsaved']),
    student: z.number(),
    reason: z.string(),
    polls: z.optional(z.number()),
    listeners: z.optional(z.record(z.string(), ListenerSchema)),
  }),
]);
export type Health = z.infer<typeof HealthSchema>;

/** Any refusal (401, 403, 404, 405, 500). */
export const WireErrorSchema = z.object({ error: z.string() });
export type WireError = z.infer<typeof WireErrorSchema>;

/** The first problem zod found, in a line: `exercises.0.done: expected boolean`. (zod/mini has no messages.) */
export function describeIssue(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'unexpected shape';
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'the answer';
  if (issue.code === 'invalid_type') return `${where}: expected ${issue.expected}`;
  if (issue.code === 'invalid_value')
    return `${where}: expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
  if (issue.code === 'invalid_union') return `${where}: matches none of the expected forms`;
  return `${where}: ${issue.code.replace(/_/g, ' ')}`;
}

/**
 * What labctl tells a sidecar when it makes it (LABCTL_CARD): the student's card, read with this schema at the
 * sidecar's start, so a sidecar never runs on a card it misreads.
 */
export const CardSchema = z.object({
  className: z.string(),
  student: z.number(),
  host: z.string(),
  domain: z.string(),
  ports: z.record(z.string(), z.number()),
  pair: z.tuple([z.string(), z.string()]),
  password: z.string(),
  /** The password of each account of the pair. */
  passwords: z.optional(z.record(z.string(), z.string())),
  accounts: z.number(),
  /** Every account of the lab on the student's server: only these names are quoted back in hints. */
  users: z.optional(z.array(z.string())),
  /** The student's mail server on their own network (its workload's name), where the page's terminal logs in. */
  sshHost: z.optional(z.string()),
  /** The services of the lab, in its order, as the page lists them. */
  services: z.optional(
    // The protocols and TLS modes of core/services.ts (which this file may not import).
    z.array(
      z.object({
        name: z.string(),
        protocol: z.enum(['smtp', 'pop3', 'imap', 'ssh']),
        tls: z.enum(['none', 'starttls', 'implicit']),
        label: z.string(),
      }),
    ),
  ),
  /** The class's certificate authority (PEM), when the lab speaks TLS: the page offers it as /ca.pem. */
  ca: z.optional(z.string()),
});
export type Card = z.infer<typeof CardSchema>;

/** A rule or a line pattern of a lab, kept whole here: the sidecar's compileRules (core/lab-rules) checks it in depth. */
const LabRuleSchema = z.custom<object>((v) => typeof v === 'object' && v !== null && !Array.isArray(v));

/**
 * The lab, as the sidecar needs it (LABCTL_LAB): its exercises with the rules that credit them and their hints, and
 * the evidence the rules read (core/lab-rules/spec.ts).
 */
export const SidecarLabSchema = z.object({
  labName: z.string(),
  labTitle: z.string(),
  exercises: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      credit: z.union([LabRuleSchema, z.array(LabRuleSchema)]),
      hints: z.optional(z.array(LabRuleSchema)),
    }),
  ),
  evidence: z.object({
    lines: z.record(z.string(), LabRuleSchema),
    message: z.optional(LabRuleSchema),
    session: z.optional(LabRuleSchema),
  }),
});
export type SidecarLab = z.infer<typeof SidecarLabSchema>;
