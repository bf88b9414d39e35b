import type { ClassInfo, StudentInfo } from '../core/class-model.js';
import { caFileName, shownServices } from '../core/services.js';

/** The student's connection card, in French like the TD. */
export function studentCard(info: ClassInfo, s: StudentInfo): string {
  const [first, second] = s.pair;
  const password = (user: string) => s.accounts.find((a) => a.user === user)?.password ?? '';
  const accounts =
    password(first) === password(second)
      ? `Vos comptes : ${first} et ${second}   mot de passe : ${password(first)}`
      : `Vos comptes : ${first} (mot de passe ${password(first)}) et ${second} (mot de passe ${password(second)})`;
  const services = shownServices(s, info.class, info.services);
  const width = Math.max(4, ...services.map((x) => x.label.length)) + 2;
  const rule = '─'.repeat(64);
  return [
    rule,
    `Étudiant ${s.student}${s.name ? ` · ${s.name.replace(/\s+/g, ' ')}` : ''} · classe ${info.class} · ${info.title}`,
    rule,
    `Serveur de messagerie : ${s.host}   (domaine ${s.domain})`,
    accounts,
    `  (les comptes util1 à util${s.accounts.length} existent tous sur votre serveur)`,
    '',
    ...services.map((x) => `  ${x.label.padEnd(width)}port ${x.port ?? '?'}   ${x.command}`),
    '',
    `Adresses : ${first}@${s.domain}, ${second}@${s.domain}`,
    `Boîte mbox : /var/spool/mail/${first}   Journal : /var/log/mail.log`,
    ...(s.page ? [`Votre progression : ${s.page}`] : []),
    ...(info.ca
      ? [
          '',
          `Autorité de certification de la classe (à enregistrer dans ${caFileName(info.class)}) :`,
          info.ca.trimEnd(),
        ]
      : []),
    '',
  ].join('\n');
}
