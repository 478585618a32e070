import { flattenNamespaces } from './dist/decoding/trie-input.js';
import { buildTrieArrays } from '/tmp/fz/trie-build-inst.mjs';
const n = 4000000;
const codes = new Int32Array(n * 3); for (let i = 0; i < codes.length; i++) codes[i] = (Math.random() * 256) | 0;
const inp = flattenNamespaces({ codes, length: 3, offsets: [0, 256, 512] });
buildTrieArrays(inp);
