// Prints 1 when OpenBLAS's CBLAS header and library are installed (so binding.gyp links it),
// else 0. SEMID_OPENBLAS=0 turns it off, SEMID_OPENBLAS=1 forces it on.
const fs = require('node:fs');
const forced = process.env.SEMID_OPENBLAS;
if (forced === '0' || forced === '1') {
  process.stdout.write(forced);
} else {
  const headers = ['/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/aarch64-linux-gnu/cblas.h',
    '/usr/include/openblas/cblas.h', '/usr/local/include/cblas.h', '/opt/homebrew/opt/openblas/include/cblas.h'];
  const libs = ['/usr/lib/x86_64-linux-gnu/libopenblas.so', '/usr/lib/aarch64-linux-gnu/libopenblas.so',
    '/usr/lib/libopenblas.so', '/usr/local/lib/libopenblas.so'];
  const found = headers.some((p) => fs.existsSync(p)) && libs.some((p) => fs.existsSync(p));
  process.stdout.write(found ? '1' : '0');
}
