/**
 * Training checkpoints as safetensors: the parameters under their names, the AdamW moments under
 * "optimizer.m.<name>" / "optimizer.v.<name>", and the loop's position (step, epoch, batch) in the
 * metadata. Written atomically; the newest few kept.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SemidError } from '../../kernels/errors.js';
import { readSafetensors, writeSafetensors, type SafeTensor } from '../safetensors.js';
import type { AdamW } from './adamw.js';
import { assignData } from './assign-data.js';

export interface LoopPosition {
  /** Updates applied. */
  step: number;
  /** Epoch and batch (within it) of the next update. */
  epoch: number;
  batch: number;
}

const NAME = /^checkpoint-(\d+)\.safetensors$/;

/**
 * Checkpoint files in `dir`, newest (highest step) first.
 * @example listCheckpoints('runs/default/models/multitask-seed42')[0]?.path // the newest checkpoint-<step>.safetensors
 */
export function listCheckpoints(dir: string): Array<{ step: number; path: string }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => NAME.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => b.step - a.step);
}

/**
 * Save parameters, optimizer state and loop position; keep the newest `keep` files.
 * @example saveCheckpoint('run/ckpt', vars, opt, { step: 100, epoch: 1, batch: 3 }, { settings: 'abc' });
 */
export function saveCheckpoint(dir: string, variables: Map<string, tf.Variable>, optimizer: AdamW, position: LoopPosition,
  metadata: Record<string, string> = {}, keep = 2): string {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, SafeTensor>();
  for (const [name, v] of variables) {
    if (name.startsWith('optimizer.')) throw new SemidError('ERR_SEMID_CHECKPOINT', `parameter name "${name}" is reserved for optimizer state`);
    tensors.set(name, { dtype: 'F32', shape: v.shape, data: v.dataSync() as Float32Array });
    const mom = optimizer.moments.get(name);
    if (mom) {
      tensors.set(`optimizer.m.${name}`, { dtype: 'F32', shape: v.shape, data: mom.m });
      tensors.set(`optimizer.v.${name}`, { dtype: 'F32', shape: v.shape, data: mom.v });
    }
  }
  const path = join(dir, `checkpoint-${String(position.step).padStart(8, '0')}.safetensors`);
  writeSafetensors(path, tensors, {
    ...metadata,
    format: 'semid-checkpoint-1',
    step: String(position.step),
    epoch: String(position.epoch),
    batch: String(position.batch),
    optimizerStep: String(optimizer.step),
  });
  for (const old of listCheckpoints(dir).slice(Math.max(1, keep))) unlinkSync(old.path);
  return path;
}

/**
 * Restore the newest checkpoint in `dir` into `variables` and `optimizer`; null when there is none.
 * Names and shapes must match the model (an error says which do not).
 * @example const pos = loadLatestCheckpoint('run/ckpt', vars, opt); // { step, epoch, batch, metadata }
 */
export function loadLatestCheckpoint(dir: string, variables: Map<string, tf.Variable>, optimizer: AdamW):
  (LoopPosition & { path: string; metadata: Record<string, string> }) | null {
  const latest = listCheckpoints(dir)[0];
  if (!latest) return null;
  const { tensors, metadata } = readSafetensors(latest.path);
  if (metadata.format !== 'semid-checkpoint-1') throw new SemidError('ERR_SEMID_CHECKPOINT', `${latest.path}: not a semid training checkpoint`);
  for (const [name, v] of variables) {
    const t = tensors.get(name);
    if (!t) throw new SemidError('ERR_SEMID_CHECKPOINT', `${latest.path}: has no tensor "${name}" (was it written by another model?)`);
    if (t.shape.join(',') !== v.shape.join(',')) {
      throw new SemidError('ERR_SEMID_CHECKPOINT', `${latest.path}: "${name}" has shape [${t.shape}], the model has [${v.shape}]`);
    }
  }
  optimizer.moments.clear();
  for (const [name, v] of variables) {
    assignData(v, tensors.get(name)!.data as Float32Array);
    const m = tensors.get(`optimizer.m.${name}`);
    const s = tensors.get(`optimizer.v.${name}`);
    if (m && s) optimizer.moments.set(name, { m: (m.data as Float32Array).slice(), v: (s.data as Float32Array).slice() });
  }
  optimizer.step = Number(metadata.optimizerStep);
  return { step: Number(metadata.step), epoch: Number(metadata.epoch), batch: Number(metadata.batch), path: latest.path, metadata };
}
