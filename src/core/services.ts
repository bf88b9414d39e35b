/** The mail server's services a lab gives a port to: what the lab file, the port plan and readiness share. */
export type Service = 'smtp' | 'pop3' | 'imap' | 'ssh';
export const SERVICES: readonly Service[] = ['smtp', 'pop3', 'imap', 'ssh'];
