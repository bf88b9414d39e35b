/** Lengths of time as labctl and the students' pages say them. It imports nothing: the sidecar bundles it. */

/** "2 h 05 min", "14 min", "4 min 30 s", "40 s": to the second in the last ten minutes. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}
