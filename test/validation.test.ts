import { describe, expect, it } from 'vitest';
import { codeStats, gemm, gemmReference, nearestCentroids, nearestReference, SemidArgumentError } from '../src/index.js';
import { resolveDevice } from '../src/kernels/device.js';

const f = (n: number) => new Float32Array(n);

async function rejects(p: Promise<unknown>, parameter: string, pattern: RegExp) {
  const err = await p.then(() => undefined, (e) => e);
  expect(err, 'expected a rejection').toBeInstanceOf(Error);
  expect(err.code).toBe('ERR_SEMID_INVALID_ARG');
  if (parameter) expect(err.parameter ?? parameter).toBe(parameter);
  expect(err.message).toMatch(pattern);
}

describe('gemm rejects bad input with a clear message', () => {
  const ok = { m: 2, n: 2, k: 2 };
  it('non-integer and out-of-range sizes', async () => {
    await rejects(gemm(f(4), f(4), { ...ok, m: 2.5 }), 'm', /Expected integer between 0 and \d+ for m but received 2\.5/);
    await rejects(gemm(f(4), f(4), { ...ok, n: -1 }), 'n', /for n but received -1/);
    await rejects(gemm(f(4), f(4), { ...ok, k: NaN }), 'k', /for k but received NaN/);
    await rejects(gemm(f(4), f(4), { ...ok, batch: 0 }), 'batch', /between 1 and/);
  });
  it('wrong array types and lengths', async () => {
    await rejects(gemm([1, 2, 3, 4] as unknown as Float32Array, f(4), ok), 'a', /Expected Float32Array for a but received Array of length 4/);
    await rejects(gemm(f(4), new Float64Array(4) as unknown as Float32Array, ok), 'b', /Float32Array for b but received Float64Array/);
    await rejects(gemm(f(5), f(4), ok), 'a', /length 4 \(2 x 2\) for a but received Float32Array of length 5/);
    await rejects(gemm(f(4), f(3), { ...ok, transB: true }), 'b', /for b/);
    await rejects(gemm(f(4), f(4), { ...ok, out: f(3) }), 'out', /for out/);
    await rejects(gemm(f(5), f(4), { ...ok, batch: 3 }), 'a', /3 x 2 x 2, or one 2 x 2 to broadcast/);
  });
  it('bad options', async () => {
    await rejects(gemm(f(4), f(4), null as never), 'options', /options object/);
    await rejects(gemm(f(4), f(4), { ...ok, transA: 1 as never }), 'transA', /boolean for transA/);
    await rejects(gemm(f(4), f(4), { ...ok, alpha: Infinity }), 'alpha', /finite number for alpha/);
    await rejects(gemm(f(4), f(4), { ...ok, beta: 1 }), 'out', /when beta is non-zero/);
    await rejects(gemm(f(4), f(4), { ...ok, threads: -2 }), 'threads', /threads/);
    await rejects(gemm(f(4), f(4), { ...ok, device: 'gpu' as never }), 'device', /one of "auto", "cpu", "cuda" for device but received "gpu"/);
    await rejects(gemm(f(4), f(4), { ...ok, signal: {} as never }), 'signal', /AbortSignal/);
    await rejects(gemm(f(4), f(4), { ...ok, impl: 'blas' as never }), 'impl', /impl/);
  });
  it('NaN and infinity in the inputs, located', async () => {
    const a = f(4); a[3] = NaN;
    await rejects(gemm(a, f(4), ok), '', /finite values for a but received NaN at row 1, column 1/);
    const b = f(4); b[2] = -Infinity;
    await rejects(gemm(f(4), b, ok), '', /finite values for b but received -Infinity at row 1, column 0/);
    // Opting out of the screen is allowed.
    await expect(gemm(a, f(4), { ...ok, checkFinite: false })).resolves.toBeInstanceOf(Float32Array);
  });
});

describe('nearestCentroids rejects bad input with a clear message', () => {
  it('bad dim, shapes and topk', async () => {
    await rejects(nearestCentroids(f(4), f(4), { dim: 0 }), 'dim', /Expected integer between 1 and \d+ for dim but received 0/);
    await rejects(nearestCentroids(f(5), f(4), { dim: 2 }), 'x', /multiple of dim=2 for x but received Float32Array of length 5/);
    await rejects(nearestCentroids(f(4), f(0), { dim: 2 }), 'centroids', /non-empty Float32Array/);
    await rejects(nearestCentroids(f(4), f(3), { dim: 2 }), 'centroids', /multiple of dim=2/);
    await rejects(nearestCentroids(f(4), f(4), { dim: 2, topk: 3 }), 'topk', /integer between 1 and 2 for topk but received 3/);
    await rejects(nearestCentroids(f(4), f(4), { dim: 2, topk: 1.5 }), 'topk', /for topk but received 1.5/);
    await rejects(nearestCentroids(f(4), f(4), undefined as never), 'dim', /for dim but received undefined/);
    await rejects(nearestCentroids('x' as never, f(4), { dim: 2 }), 'x', /Float32Array for x but received "x"/);
  });
  it('NaN and infinity in x or centroids, located', async () => {
    const x = f(6); x[4] = Infinity;
    await rejects(nearestCentroids(x, f(4), { dim: 2 }), '', /finite values for x but received Infinity at row 2, column 0/);
    const c = f(4); c[1] = NaN;
    await rejects(nearestCentroids(f(4), c, { dim: 2 }), '', /finite values for centroids but received NaN at row 0, column 1/);
  });
  it('errors are SemidArgumentError instances naming the parameter', async () => {
    const err = await nearestCentroids(f(4), f(4), { dim: 2, topk: 9 }).catch((e) => e);
    expect(err).toBeInstanceOf(SemidArgumentError);
    expect(err.parameter).toBe('topk');
    expect(err.expected).toBe('integer between 1 and 2');
    expect(err.received).toBe('9');
    // renamed (the CLI names a parameter by its flag): same text, same class and code
    const flagged = err.withParameter('--topk');
    expect(flagged).toBeInstanceOf(SemidArgumentError);
    expect(flagged.code).toBe('ERR_SEMID_INVALID_ARG');
    expect(flagged.parameter).toBe('--topk');
    expect(flagged.message).toBe('Expected integer between 1 and 2 for --topk but received 9');
    expect(new SemidArgumentError('name', 'a short text', 'x'.repeat(50)).withParameter('--name').message).toBe(`Expected a short text for --name but received "${'x'.repeat(40)}…"`);
  });
});

describe('device selection', () => {
  it('rejects unknown devices and explains a missing CUDA device', () => {
    expect(() => resolveDevice('tpu')).toThrow(/for device but received "tpu"/);
    expect(resolveDevice('cpu')).toBe('cpu');
    if (resolveDevice('auto') === 'cpu') {
      expect(() => resolveDevice('cuda')).toThrow(/device "cuda" was requested but is not available/);
    }
  });
});

describe('references and code statistics reject bad input', () => {
  it('gemmReference and nearestReference', () => {
    expect(() => gemmReference(f(3), f(4), { m: 2, n: 2, k: 2 })).toThrow(/at least 4 elements for a/);
    expect(() => gemmReference(f(4), f(4), { m: -1, n: 2, k: 2 })).toThrow(/for m but received -1/);
    expect(() => nearestReference(f(5), f(4), 2, 1)).toThrow(/multiple of dim=2 for x/);
    expect(() => nearestReference(f(4), f(4), 2, 3)).toThrow(/between 1 and 2 for topk but received 3/);
  });
  it('codeStats', () => {
    expect(() => codeStats(new Int32Array([0, 1, 2]), 2, 4)).toThrow(/multiple of levels=2 for codes/);
    expect(() => codeStats(new Int32Array([0, 9]), 2, 4)).toThrow(/integers in \[0, 4\) for codes but received "9 at row 0, level 1"/);
    expect(() => codeStats(new Int32Array([0, 1]), 0, 4)).toThrow(/for levels but received 0/);
    expect(() => codeStats(null as never, 1, 4)).toThrow(/for codes/);
    expect(codeStats([0, 1, 0, 1], 2, 4).distinctIds).toBe(1);
  });
});

describe('misspelt options are named, never ignored', () => {
  it('every options object of the core rejects a key it does not know, suggesting the one meant', async () => {
    const { RQKMeans, IdTrie, constrainedBeamSearch, exhaustiveSearch, truncatedSvd, beamStep } = await import('../src/index.js');
    const x = new Float32Array(400).map((_, i) => Math.sin(i));
    await rejects(gemm(f(4), f(4), { m: 2, n: 2, k: 2, transa: true } as never), 'options.transa', /an option name among m, n, k, .* \(did you mean transA\?\) for options\.transa but received true/);
    await rejects(nearestCentroids(x, x.subarray(0, 16), { dim: 4, topK: 2 } as never), 'options.topK', /did you mean topk\?/);
    await rejects(RQKMeans.train(x, { dim: 4, levels: 2, codebooksize: 8 } as never), 'options.codebooksize', /did you mean codebookSize\?/);
    const model = await RQKMeans.train(x, { dim: 4, levels: 2, codebookSize: 8, seed: 1 });
    await rejects(model.encode(x, { beams: 2 } as never), 'options.beams', /did you mean beam\?/);
    await rejects(truncatedSvd({ data: x, rows: 100, cols: 4 }, { rnak: 2 } as never), 'options.rnak', /did you mean rank\?/);
    const trie = IdTrie.build({ codes: [[0, 1], [1, 0]] });
    expect(() => IdTrie.build({ codes: [[0, 1]], offset: 256 } as never)).toThrow(/an option name among name, codes, length, offsets, items \(did you mean offsets\?\) for namespace\.offset but received 256/);
    expect(() => IdTrie.build([{ codes: [[0, 1]] }, { name: 'b', codes: [[1]], item: [3] } as never])).toThrow(/did you mean items\?\) for namespaces\[1\]\.item /);
    const step = ({ rows }: { rows: number }) => new Float32Array(rows * trie.vocabSize);
    await rejects(constrainedBeamSearch({ trie, batch: 1, beam: 4, step } as never), 'options.beam', /did you mean beams\?/);
    await rejects(exhaustiveSearch({ trie, batch: 1, topK: 2, step } as never), 'options.topK', /did you mean topk\?/);
    // a key far from every option gets no suggestion, only the list
    await rejects(constrainedBeamSearch({ trie, batch: 1, step, temperature: 0.7 } as never), 'options.temperature', /an option name among trie, step, batch, beams, .* for options\.temperature but received 0\.7$/);
    await rejects(beamStep(trie, { batch: 1, beams: 1, groups: 1, vocab: 2, scores: f(2), nodes: Int32Array.of(0), beamScores: f(1), diversityPenalty: 0 } as never),
      'input.diversityPenalty', /an option name among .* for input\.diversityPenalty/);
    await rejects(beamStep(trie, { batch: 1, beams: 1, groups: 1, vocab: 2, scores: f(2), nodes: Int32Array.of(0), beamScores: f(1) }, { thread: 1 } as never),
      'options.thread', /did you mean threads\?/);
  });

  it('so do the runtime, the T5 and the study', async () => {
    const { initRuntime, generate, trainJointT5, checkDatasetOptions, runStudy, T5Model, T5_PRESETS } = await import('../src/index.js');
    await rejects(initRuntime({ backends: 'wasm' } as never), 'options.backends', /did you mean backend\?/);
    await initRuntime({ backend: 'wasm' });
    const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 20 }, 1);
    const batch = { batchSize: 1, sourceLength: 2, inputIds: Int32Array.of(3, 1), attentionMask: Int32Array.of(1, 1) };
    expect(() => generate(model, batch, { maxNewTokens: 2, num_beams: 4 } as never)).toThrow(/did you mean numBeams\?\) for options\.num_beams/);
    await rejects(trainJointT5({ model, task: {} as never, epoch: 3 } as never), 'options.epoch', /did you mean epochs\?/);
    model.dispose();
    expect(() => checkDatasetOptions({ kcore: 5 } as never)).toThrow(/did you mean kCore\?\) for options\.kcore/);
    await rejects(runStudy({ out: '/tmp/semid-never-made', seed: 3 } as never), 'options.seed', /did you mean seeds\?/);
    await rejects(runStudy({ out: '/tmp/semid-never-made', seeds: 0 }), 'seeds', /integer between 1 and 1000 for seeds but received 0/);
    const { syntheticMovieLens, readMovieLens, trainEnmf, fitContentEncoder, embedStage } = await import('../src/index.js');
    expect(() => syntheticMovieLens({ movie: 20 } as never)).toThrow(/did you mean movies\?\) for options\.movie/);
    await rejects(readMovieLens('/tmp', { genomes: true } as never), 'options.genomes', /did you mean genome\?/);
    await rejects(trainEnmf({} as never, { epoch: 2 } as never), 'options.epoch', /did you mean epochs\?/);
    await rejects(fitContentEncoder(['a b', 'c d'], { dims: 8 } as never), 'options.dims', /did you mean dim\?/);
    await rejects(embedStage('content', '/tmp/semid-never-made', { epoch: 1 } as never), 'options.epoch', /did you mean epochs\?/);
  });
});
