/**
 * One grammar for a mail address as Postfix logs it between `<` and `>`, used both to cut the address out of a log
 * line and to read its parts in the rules. Postfix logs a local part that needs it quoted, and a quoted local part
 * may hold `>`, `, ` or `@` (`MAIL FROM:<"x\>, size=1"@s01.td1.test>` is logged as `from=<"x>, size=1"@s01.td1.test>`;
 * Postfix 3.7 refuses one that holds both `@` and `>`, another version may not): read with this grammar, that is one
 * address at s01.td1.test, never a field or a domain of the student's making. An address outside the grammar is
 * refused, not guessed at.
 */
const QUOTED = String.raw`"(?:[^"\\\r\n]|\\.)*"`;
const ATOMS = String.raw`[^\s"<>,;@\\]+`;

/** The address (possibly empty: a bounce's `from=<>`), for a log line's regex; it has no capturing group. */
export const ADDRESS_PATTERN = `(?:(?:${QUOTED}|${ATOMS})(?:@${ATOMS})?)?`;

const PARTS = new RegExp(`^(${QUOTED}|${ATOMS})(?:@(${ATOMS}))?$`);

export interface AddressParts {
  /** Unquoted: `"util1+x>, y"` is `util1+x>, y`. */
  local: string;
  /** Lowercased; absent for a bare local part ("util1"). */
  domain?: string;
}

/** The local part and the domain of an address, or undefined for one outside the grammar (or empty). */
export function splitAddress(address: string): AddressParts | undefined {
  const m = PARTS.exec(address);
  if (!m) return undefined;
  const local = m[1] ?? '';
  const unquoted = local.startsWith('"') ? local.slice(1, -1).replace(/\\(.)/g, '$1') : local;
  return { local: unquoted, ...(m[2] !== undefined && { domain: m[2].toLowerCase() }) };
}
