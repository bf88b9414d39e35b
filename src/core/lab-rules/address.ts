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

/** The class's domain, which holds every student's: the card's domain minus its first label (s01.td1.test → td1.test). */
export function classDomain(cardDomain: string): string {
  const labels = cardDomain.toLowerCase().split('.');
  return labels.length >= 3 ? labels.slice(1).join('.') : labels.join('.');
}

function inDomain(domain: string, parent: string): boolean {
  return domain === parent || domain.endsWith(`.${parent}`);
}

/**
 * A bare user ("util1") is inside: Postfix appends the lab's own domain to it. So are localhost and the class's domain.
 * An address outside the grammar is neither inside nor outside: the rules believe nothing of it.
 */
export function isInsideLab(address: string, cardDomain: string): boolean {
  const parts = splitAddress(address);
  if (!parts) return false;
  if (parts.domain === undefined || parts.domain === 'localhost') return true;
  return inDomain(parts.domain, classDomain(cardDomain));
}

const RESERVED_SUFFIXES = ['.test', '.invalid', '.localhost', '.example', '.local'];
const LABEL = /^[a-z0-9-]+$/;
const TOP_LABEL = /^[a-z]{2,}$/;

/**
 * A real outside domain (the spoofing rule of the TD): the address's domain (after the last `@` outside quotes) has at
 * least one dot; it is a host name, made of labels of letters, digits and hyphens, the last label being two letters
 * or more; it is neither the class's domain (the card's domain minus its first label, e.g. td1.test for
 * s01.td1.test) nor one of its subdomains, nor localhost; and it does not end in .test, .invalid, .localhost, .example
 * or .local. So `president@u-picardie.fr` is one, while `util1@mail` (no dot), a bare `president` or
 * `util2@s02.td1.test` are not.
 */
export function isSpoofedSender(address: string, cardDomain: string): boolean {
  const domain = splitAddress(address)?.domain;
  if (domain === undefined || !domain.includes('.')) return false;
  const labels = domain.split('.');
  if (!labels.every((l) => LABEL.test(l)) || !TOP_LABEL.test(labels[labels.length - 1] ?? '')) return false;
  if (domain === 'localhost' || inDomain(domain, classDomain(cardDomain))) return false;
  return !RESERVED_SUFFIXES.some((suffix) => domain.endsWith(suffix));
}

/** The account an address delivers to: its local part, lowercased, without a +extension. */
export function accountOf(address: string): string {
  return splitAddress(address)?.local.split('+')[0]?.toLowerCase() ?? '';
}
