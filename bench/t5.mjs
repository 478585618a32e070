// The `small` T5 on this machine: training examples per second at the paper's batch size (128;
// 24 -> 3 tokens) on our runtime against stock tfjs wasm, the loss in length groups against the
// padded batch on mixed source lengths, and trie-constrained diverse beam search
// (beam 60, 30 groups) with the cached incremental decoder against recomputing the prefix each step.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { appendResults, benchDir } from './lib.mjs';

const child = (mode) => {
  const r = spawnSync(process.execPath, [join(benchDir, 't5-step.mjs'), mode], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`t5-step ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
};

export async function run() {
  const train = child('train');
  const stock = child('train-stock');
  const mixed = child('train-mixed');
  const decode = child('decode');
  const nocache = child('decode-nocache');
  const params = `${(train.params / 1e6).toFixed(1)}M params`;
  const rows = [
    { name: 'train step, semid runtime', shape: `small T5 ${params}, batch 128, 24->3`, ms: train.msPerStep },
    { name: 'train step, stock tfjs wasm', shape: `small T5 ${params}, batch 128, 24->3`, ms: stock.msPerStep },
    { name: 'train step, mixed lengths, loss in length groups (default)', shape: `small T5, batch 128, 5-43->3`, ms: mixed.groupedMs },
    { name: 'train step, mixed lengths, padded batch (lengthGroups: false)', shape: `small T5, batch 128, 5-43->3`, ms: mixed.paddedMs },
    { name: 'constrained search, cached decoder (T5DecoderSession)', shape: '16 queries x 60 beams, 2 x 256 IDs', ms: decode.totalMs },
    { name: 'constrained search, recompute the prefix each step', shape: '16 queries x 60 beams, 2 x 256 IDs', ms: nocache.totalMs },
  ];
  const notes = [
    `training: ${train.examplesPerSecond.toFixed(0)} examples/s on our runtime vs ${stock.examplesPerSecond.toFixed(1)} on stock wasm (${(stock.msPerStep / train.msPerStep).toFixed(1)}x)`,
    `mixed lengths (${mixed.shortRows} of ${mixed.rows} rows 5-12 tokens, the rest 15-43, most of them 43, as in the study's batches): ${mixed.realTokens} real of ${mixed.paddedTokens} padded source tokens; the loss in length groups takes ${(mixed.groupedMs / mixed.paddedMs).toFixed(2)}x the padded batch's step (alternating in one process)`,
    `decoding: ${decode.steps} model steps of ${decode.rowsPerStep} rows; cached ${(1000 / decode.modelStepMs).toFixed(2)} steps/s (${decode.modelStepMs.toFixed(0)} ms a step, ${decode.queriesPerSecond.toFixed(1)} queries/s end to end) vs recompute ${(1000 / nocache.modelStepMs).toFixed(2)} steps/s (${nocache.queriesPerSecond.toFixed(1)} queries/s)`,
  ];
  appendResults('T5 `small`: training and constrained decoding (bench/t5)', rows, (r) => r === rows[0] || r === rows[2] || r === rows[4], notes, 'semid');
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
