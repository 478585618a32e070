/**
 * Piscina worker of DataParallel: builds its replica once (from the replica module), refreshes the
 * parameters from shared memory when their version changed, and writes the gradients of its shard
 * into its slot of the shared gradient buffer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import { initRuntime } from './backend.js';
import type { Replica, ShardTask } from './data-parallel.js';
import { assignData } from './assign-data.js';

let replica: Replica | null = null;
let replicaKey = '';
let seenVersion = -1;

export default async function shard(task: ShardTask): Promise<{ loss: number }> {
  const key = `${task.replicaModule}|${JSON.stringify(task.replicaOptions)}`;
  if (!replica || replicaKey !== key) {
    await initRuntime({ threads: task.threads });
    const url = task.replicaModule.startsWith('file:') ? task.replicaModule : pathToFileURL(task.replicaModule).href;
    const mod = (await import(url)) as { createReplica(options: unknown): Promise<Replica> | Replica };
    if (typeof mod.createReplica !== 'function') throw new Error(`${task.replicaModule} does not export createReplica(options)`);
    replica = await mod.createReplica(task.replicaOptions);
    replicaKey = key;
    seenVersion = -1;
  }
  const params = new Float32Array(task.params);
  const version = Atomics.load(new Int32Array(task.version), 0);
  if (version !== seenVersion) {
    for (const { name, offset, size } of task.layout) {
      const v = replica.variables.get(name);
      if (!v) throw new Error(`replica has no variable "${name}"`);
      assignData(v, params.subarray(offset, offset + size));
    }
    seenVersion = version;
  }
  const vars = task.layout.map((l) => replica!.variables.get(l.name)!);
  const nameOf = new Map(task.layout.map((l) => [replica!.variables.get(l.name)!.name, l]));
  const { value, grads } = tf.variableGrads(() => replica!.loss(task.batch, { step: task.step, epoch: task.epoch }), vars);
  const total = task.layout.reduce((s, l) => s + l.size, 0);
  const out = new Float32Array(task.grads, task.slot * total * 4, total);
  out.fill(0);
  for (const [vname, g] of Object.entries(grads)) {
    const l = nameOf.get(vname)!;
    out.set(g.dataSync() as Float32Array, l.offset);
  }
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss };
}
