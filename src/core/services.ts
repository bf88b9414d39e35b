/**
 * A lab's services and how they are spoken to: what the lab file, the port plan, readiness, the cards and the sidecar's
 * page (which bundles this file) share. It imports nothing.
 */

/** A service of the mail server, by the lab's name for it (smtp, submission, imaps, ssh…). */
export type Service = string;

export const PROTOCOLS = ['smtp', 'pop3', 'imap', 'ssh'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** none: plain (STARTTLS not offered); starttls: plain, then TLS on the client's STARTTLS; implicit: TLS at once. */
export const TLS_MODES = ['none', 'starttls', 'implicit'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** How a service is spoken to, and what the cards call it. */
export interface ServiceInfo {
  protocol: Protocol;
  tls: TlsMode;
  /** On the cards and pages: SMTP, SMTPS, SMTP (STARTTLS)… */
  label: string;
}

/** A service's protocol (its name's, by default), TLS and label, as a lab declares them or as their defaults. */
export function serviceInfo(
  name: string,
  declared: { protocol?: Protocol; tls?: TlsMode; label?: string } = {},
): ServiceInfo | undefined {
  const protocol = declared.protocol ?? (PROTOCOLS as readonly string[]).find((p) => p === name);
  if (protocol === undefined) return undefined;
  const tls = declared.tls ?? 'none';
  const base = protocol.toUpperCase();
  const label = declared.label ?? (tls === 'implicit' ? `${base}S` : tls === 'starttls' ? `${base} (STARTTLS)` : base);
  return { protocol: protocol as Protocol, tls, label };
}

/** A lab's services as the cards list them, in its order. */
export function labServices(lab: {
  services: Record<string, number>;
  protocols: Record<string, ServiceInfo>;
}): ({ name: string } & ServiceInfo)[] {
  return Object.keys(lab.services).flatMap((name) => {
    const info = lab.protocols[name];
    return info ? [{ name, ...info }] : [];
  });
}

/** Whether one of the lab's services speaks TLS (then the class has a CA, and each server a certificate). */
export const usesTls = (lab: { protocols: Record<string, ServiceInfo> }) =>
  Object.values(lab.protocols).some((p) => p.tls !== 'none');

/** A service as the cards and pages show it: its label, its port, and the command a student types to reach it. */
export interface ShownService extends ServiceInfo {
  name: string;
  port: number | undefined;
  command: string;
}

/** The file the class's CA is saved to, as the commands name it. */
export const caFileName = (className: string) => `ca-${className}.pem`;

/**
 * The services of a student's server, in the lab's order: as the lab declares them, else (cards of a class made
 * before labs declared them) from the ports the student has.
 */
export function shownServices(
  student: { host: string; ports: Record<string, number>; pair: [string, string] },
  className: string,
  declared?: ({ name: string } & ServiceInfo)[],
): ShownService[] {
  const services =
    declared ??
    Object.keys(student.ports)
      .filter((name) => name !== 'web')
      .flatMap((name) => {
        const info = serviceInfo(name);
        return info ? [{ name, ...info }] : [];
      });
  return services.map((s) => {
    const port = student.ports[s.name];
    return { ...s, port, command: serviceCommand(s, student.host, port, student.pair[0], className) };
  });
}

/** telnet for a plain service, openssl s_client (checking the class's CA) for TLS, ssh for ssh. */
export function serviceCommand(
  s: ServiceInfo,
  host: string,
  port: number | undefined,
  user: string,
  className: string,
): string {
  const p = port === undefined ? '?' : String(port);
  if (s.protocol === 'ssh') return `ssh -p ${p} ${user}@${host}`;
  if (s.tls === 'none') return `telnet ${host} ${p}`;
  const starttls = s.tls === 'starttls' ? ` -starttls ${s.protocol}` : '';
  return `openssl s_client -connect ${host}:${p}${starttls} -crlf -CAfile ${caFileName(className)}`;
}
