/** Command-line flags shared by the subcommands: numbers from text, and errors named by flag. */
import { SemidArgumentError } from '../kernels/errors.js';

/**
 * The number a flag holds, or undefined when the flag is absent. `integer` asks for a whole
 * number; `min` for a lower bound.
 * @example numberFlag('levels', '3', { integer: true, min: 1 }) // 3
 */
export function numberFlag(name: string, value: string | undefined, o: { integer?: boolean; min?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(x) && (!o.integer || Number.isInteger(x)) && (o.min === undefined || x >= o.min);
  if (!ok) {
    const what = o.integer ? (o.min === 1 ? 'a positive integer' : o.min === 0 ? 'a non-negative integer' : 'an integer') : 'a number';
    throw new SemidArgumentError(`--${name}`, o.min !== undefined && o.min !== 0 && o.min !== 1 ? `${what} >= ${o.min}` : what, value);
  }
  return x;
}

/** The flag of an API parameter: `aliases` first, else the parameter in kebab case when it is a flag. */
function flagOf(parameter: string, flags: ReadonlySet<string>, aliases: Readonly<Record<string, string>>): string | undefined {
  if (Object.hasOwn(aliases, parameter)) return aliases[parameter];
  const kebab = parameter.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return flags.has(kebab) ? kebab : undefined;
}

/**
 * Run a subcommand's work so that an argument error from the API names the flag that set the
 * parameter (`--codebook` rather than `codebookSize`).
 * @example await withFlagNames(['levels', 'codebook'], { codebookSize: 'codebook' }, () => RQKMeans.train(x, options));
 */
export async function withFlagNames<T>(flags: Iterable<string>, aliases: Readonly<Record<string, string>>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof SemidArgumentError) {
      const flag = flagOf(err.parameter, new Set(flags), aliases);
      if (flag !== undefined) throw err.withParameter(`--${flag}`);
    }
    throw err;
  }
}
