import type { ClassInfo, StudentInfo } from '../core/class-model.js';

/** The student's connection card, in French like the TD. */
export function studentCard(info: ClassInfo, s: StudentInfo): string {
  const [first, second] = s.pair;
  const password = (user: string) => s.accounts.find((a) => a.user === user)?.password ?? '';
  const accounts =
    password(first) === password(second)
      ? `Vos comptes : ${first} et ${second}   mot de passe : ${password(first)}`
      : `Vos comptes : ${first} (mot de passe ${password(first)}) et ${second} (mot de passe ${password(second)})`;
  const p = s.ports;
  const rule = '─'.repeat(64);
  return [
    rule,
    `Étudiant ${s.student}${s.name ? ` · ${s.name.replace(/\s+/g, ' ')}` : ''} · classe ${info.class} · ${info.title}`,
    rule,
    `Serveur de messagerie : ${s.host}   (domaine ${s.domain})`,
    accounts,
    `  (les comptes util1 à util${s.accounts.length} existent tous sur votre serveur)`,
    '',
    `  SMTP  port ${p.smtp}   telnet ${s.host} ${p.smtp}`,
    `  POP3  port ${p.pop3}   telnet ${s.host} ${p.pop3}`,
    `  IMAP  port ${p.imap}   telnet ${s.host} ${p.imap}`,
    `  SSH   port ${p.ssh}   ssh -p ${p.ssh} ${first}@${s.host}`,
    '',
    `Adresses : ${first}@${s.domain}, ${second}@${s.domain}`,
    `Boîte mbox : /var/spool/mail/${first}   Journal : /var/log/mail.log`,
    ...(s.page ? [`Votre progression : ${s.page}`] : []),
    '',
  ].join('\n');
}
