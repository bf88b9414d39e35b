import { durationText } from '../core/durations.js';

/**
 * What the student reads about their session's end, in French: on their page (page.ts, which also says it in its
 * script) and in the page's terminal (terminal.ts). The mail server says the same to telnet and ssh
 * (images/mail/session.sh).
 */

export function timeLeftText(endText: string, leftMs: number): string {
  return `Fin de la séance : ${endText} (temps restant : ${durationText(leftMs)}).`;
}

export function warningText(endText: string, leftMs: number): string {
  return `Attention : la séance se termine à ${endText} (dans ${durationText(leftMs)}). Ensuite, votre serveur refusera les connexions et ce que vous ferez ne comptera plus.`;
}

export function endedText(endText: string): string {
  return `La séance est terminée (${endText}) : votre serveur refuse les connexions, et ce que vous faites maintenant ne compte plus.`;
}

/** The short form, for a closed terminal's reason (at most 123 bytes). */
export function endedShortText(endText: string): string {
  return `La séance est terminée (${endText}) : connexions refusées.`;
}

/** An end as students read it when labctl gave no text: hours and minutes of the ISO time, in UTC. */
export function fallbackEndText(end: string): string {
  return new Date(end).toISOString().slice(11, 16);
}
