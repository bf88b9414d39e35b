/**
 * How a lab's services are spoken to. Shared by labctl and the sidecar's page (which bundles it): it imports nothing.
 */
export const PROTOCOLS = ['smtp', 'pop3', 'imap', 'ssh'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** none: plain (STARTTLS not offered); starttls: plain, then TLS on the client's STARTTLS; implicit: TLS at once. */
export type TlsMode = 'none' | 'starttls' | 'implicit';

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
