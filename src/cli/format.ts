/** Plain-text tables and sizes for the CLI. */

/** Render rows as an aligned two-or-more column table. */
export function table(rows: Array<Array<string | number>>, header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
  const line = (row: Array<string | number>) =>
    row.map((cell, i) => (typeof cell === 'number' ? String(cell).padStart(widths[i]) : String(cell).padEnd(widths[i]))).join('  ').trimEnd();
  const out = all.map(line);
  if (header) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

/**
 * Print each question's answers on standard output: as one JSON list of {query, answers}, or as a
 * table per question with `header` and `row(answer)` as its columns.
 * @example printAnswers(['space robots'], answers, false, ['rank', 'score'], (a) => [a.rank, a.score.toFixed(3)]);
 */
export function printAnswers<A>(questions: string[], answers: A[][], json: boolean, header: string[], row: (a: A) => Array<string | number>): void {
  if (json) {
    process.stdout.write(JSON.stringify(questions.map((q, i) => ({ query: q, answers: answers[i] })), null, 2) + '\n');
    return;
  }
  questions.forEach((q, i) => process.stdout.write(`\n${q}\n${table(answers[i].map(row), header)}\n`));
}

/** 1536 -> "1.5 KiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
