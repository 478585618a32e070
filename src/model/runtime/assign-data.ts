/** Setting a variable from host data without leaving a tensor behind. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Give `variable` the values of `data` (row-major, its shape). `assign` shares the new tensor's
 * data with the variable: the carrier is disposed here, else it would keep that memory after the
 * variable is disposed, and keep the variable's data shared (which makes an in-place update copy).
 * @example assignData(v, new Float32Array(v.size)) // v is now all zeros
 */
export function assignData(variable: tf.Variable, data: Float32Array): void {
  const value = tf.tensor(data, variable.shape, 'float32');
  try {
    variable.assign(value);
  } finally {
    value.dispose();
  }
}
