// One temporary folder for the whole test run: every test file's workers (and the CLIs they
// start) get it as TMPDIR, so os.tmpdir() names it, and it is removed when the run ends. Without
// it each run left ~300 MB of test files in /tmp.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'semid-test-run-'));
  process.env.TMPDIR = root;
  return () => {
    if (process.env.SEMID_KEEP_TEST_TMP === '1') {
      process.stderr.write(`test files kept in ${root}\n`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
}
