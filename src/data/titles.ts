/**
 * Movie titles: split "American President, The (1995)" into a display title and a year, list the
 * names a movie goes by, and tell whether a query contains any of them.
 */

/** Leading articles MovieLens moves to the end ("Matrix, The"), in the languages it uses. */
const ARTICLES = ['the', 'a', 'an', 'le', 'la', 'les', 'l\'', 'il', 'lo', 'gli', 'i', 'el', 'los', 'las', 'der', 'die', 'das', 'den', 'det', 'de', 'het', 'een', 'o', 'os', 'as', 'un', 'une', 'une'];

export interface ParsedTitle {
  /** The title in reading order, without the year: "The American President". */
  display: string;
  /** Release year from the trailing "(1995)", or null. */
  year: number | null;
  /** Every name of the movie: display title, the title as filed, alternative titles in parentheses. */
  names: string[];
}

function unInvert(name: string): string {
  // "American President, The" -> "The American President"; "Cité des enfants perdus, La" -> "La Cité ..."
  const m = /^(.*),\s*([A-Za-zÀ-ÿ']+)$/.exec(name.trim());
  if (m && ARTICLES.includes(m[2].toLowerCase())) {
    const article = m[2];
    return article.endsWith("'") ? `${article}${m[1]}` : `${article} ${m[1]}`;
  }
  return name.trim();
}

/**
 * Parse a MovieLens title.
 * The names include the part before a colon when it has two words or more (a series title).
 * @example parseTitle('City of Lost Children, The (Cité des enfants perdus, La) (1995)')
 * // { display: 'The City of Lost Children', year: 1995, names: [..., 'La Cité des enfants perdus'] }
 */
export function parseTitle(raw: string): ParsedTitle {
  let rest = raw.trim();
  let year: number | null = null;
  const y = /\((\d{4})(?:[-–]\d{0,4})?\)\s*$/.exec(rest);
  if (y) {
    year = Number(y[1]);
    rest = rest.slice(0, y.index).trim();
  }
  const alternatives: string[] = [];
  // trailing parenthesised alternative titles: "Seven (a.k.a. Se7en)", "Shichinin no samurai (Seven Samurai)"
  for (;;) {
    const m = /\(([^()]+)\)\s*$/.exec(rest);
    if (!m || m.index === 0) break;
    alternatives.unshift(m[1].replace(/^a\.k\.a\.\s*/i, '').trim());
    rest = rest.slice(0, m.index).trim();
  }
  const display = unInvert(rest) || raw.trim();
  const names = [display];
  if (rest && rest !== display) names.push(rest);
  // a series title before a colon names the movie too ("The Lord of the Rings: The Two Towers")
  const colon = display.indexOf(': ');
  if (colon > 0 && normalizeWords(display.slice(0, colon)).length >= 2) names.push(display.slice(0, colon));
  for (const alt of alternatives) {
    const u = unInvert(alt);
    if (u) names.push(u);
    if (alt !== u && alt) names.push(alt);
  }
  return { display, year, names: [...new Set(names.filter((n) => normalizeWords(n).length > 0))] };
}

/**
 * Lower-case words of a text: accents removed, anything not a letter or digit is a word break.
 * @example normalizeWords("Amélie's Paris, 2001!") // ['amelies', 'paris', '2001']
 */
export function normalizeWords(text: string): string[] {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/['’]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== '');
}

/**
 * Whether `query` contains one of `titleNames` as a contiguous run of words (case, accents and
 * punctuation ignored). A name that starts with an article also counts without it when at least two
 * words remain ("The Lord of the Rings" -> "lord of the rings"); a one-word remainder ("The Matrix"
 * -> "matrix") does not, since single common words ("Up", "Her") cannot be kept out of every query.
 * @example containsTitle('a film like lord of the rings', ['The Lord of the Rings']) // true
 */
export function containsTitle(query: string, titleNames: string[]): boolean {
  return titleMatcher(titleNames)(query);
}

/**
 * `containsTitle` with the names prepared once, for checking many queries of one item.
 * @example const hasTitle = titleMatcher(['Heat']); hasTitle('heat wave movie') // true
 */
export function titleMatcher(titleNames: string[]): (query: string) => boolean {
  const runs: string[][] = [];
  for (const name of titleNames) {
    const t = normalizeWords(name);
    if (t.length === 0) continue;
    runs.push(t);
    if (t.length >= 3 && ARTICLES.includes(t[0])) runs.push(t.slice(1));
  }
  return (query) => {
    const q = normalizeWords(query);
    return runs.some((run) => containsRun(q, run));
  };
}

function containsRun(words: string[], run: string[]): boolean {
  outer: for (let i = 0; i + run.length <= words.length; i++) {
    for (let j = 0; j < run.length; j++) if (words[i + j] !== run[j]) continue outer;
    return true;
  }
  return false;
}
