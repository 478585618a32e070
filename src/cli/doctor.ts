/** `semid doctor`: what the native backend is and what it can use. */
import { info } from '../kernels/info.js';
import { bytes, table } from './format.js';
import { envProblems } from '../native/env-check.js';

export function doctor(args: { json: boolean }): number {
  const i = info();
  const problems = envProblems();
  if (args.json) {
    process.stdout.write(JSON.stringify({ ...i, envProblems: problems }, null, 2) + '\n');
    return 0;
  }
  const cuda = i.cuda.device
    ? `${i.cuda.device.name} (sm_${i.cuda.device.computeCapability.replace('.', '')}, ${i.cuda.device.multiprocessors} SMs, ${bytes(i.cuda.device.totalMemory)} total, ${bytes(i.cuda.device.freeMemory)} free)`
    : `none: ${i.cuda.reason}`;
  const rows: Array<[string, string]> = [
    ['addon', i.addonPath],
    ['backends', i.backends.join(', ')],
    ['cuda build', i.cudaBuild ? 'yes' : 'no'],
    ['cuda device', cuda],
    ['simd', i.simd === i.simdDetected ? i.simd : `${i.simd} (CPU has ${i.simdDetected}; lowered by SEMID_SIMD)`],
    ['threads', `${i.threads} (idle workers ${i.threadSpinUs > 0 ? `poll ${i.threadSpinUs} us, then sleep` : 'sleep at once'}; SEMID_SPIN_US)`],
    ['openblas', i.openblas ? 'linked (used by gemm)' : 'not linked (gemm uses semid kernels)'],
    ['node', `${i.node} on ${i.platform}`],
  ];
  if (i.cuda.compiled) rows.splice(4, 0, ['cuda runtime', `${fmtVersion(i.cuda.runtimeVersion)} (driver ${fmtVersion(i.cuda.driverVersion)})`]);
  process.stdout.write(table(rows) + '\n');
  for (const s of i.skipped) process.stdout.write(`skipped: ${s}\n`);
  for (const p of problems) process.stdout.write(`warning: ${p}\n`);
  return 0;
}

function fmtVersion(v: number): string {
  return v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'none';
}
