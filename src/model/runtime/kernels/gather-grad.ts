/**
 * The gradient of GatherV2 along axis 0 (every embedding lookup): one UnsortedSegmentSum of dy's
 * rows into the table's rows. tfjs's own gradient brackets that sum with two transposes that are
 * identities for axis 0, and each is a full copy on wasm: for a 33,189 x 384 term table, a 51 MB
 * copy of the dense gradient per step. Other axes and batchDims keep tfjs's gradient.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The GatherV2 gradient config: axis 0 and batchDims 0 natively shaped, the rest to `stock`.
 * @example tf.registerGradient(gatherGradConfig(tf.getGradient('GatherV2')));
 */
export function gatherGradConfig(stock: tf.GradConfig | undefined): tf.GradConfig {
  return {
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved;
      const { axis = 0, batchDims = 0 } = attrs as { axis?: number; batchDims?: number };
      const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
      if (parsedAxis !== 0 || batchDims !== 0 || Array.isArray(dy)) {
        if (!stock) throw new Error('GatherV2 gradient: unsupported arguments and no stock gradient');
        return stock.gradFunc(dy, saved, attrs);
      }
      const inner = x.shape.slice(1);
      return {
        x: () => tf.unsortedSegmentSum(tf.reshape(dy, [indices.size, ...inner]), tf.reshape(indices, [indices.size]) as tf.Tensor1D, x.shape[0]),
        indices: () => indices,
      };
    },
  };
}
