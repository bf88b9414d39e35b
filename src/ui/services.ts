import { serviceInfo, type ServiceInfo } from '../core/services.js';

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
