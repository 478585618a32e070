/** A one-line progress display on stderr (redrawn on a TTY, a line per step otherwise). */
export class ProgressLine {
  private last = '';
  private lastPrint = 0;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Show `text` with a bar for fraction in [0, 1]. */
  update(fraction: number, text: string): void {
    const width = 24;
    const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line.padEnd(this.last.length)}`);
    } else if (performance.now() - this.lastPrint > 2000 || fraction >= 1) {
      this.stream.write(line + '\n');
      this.lastPrint = performance.now();
    }
    this.last = line;
  }

  done(text?: string): void {
    if (this.stream.isTTY && this.last) this.stream.write('\n');
    if (text) this.stream.write(text + '\n');
    this.last = '';
  }
}
