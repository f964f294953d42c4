// Progress for long work: a redrawn bar on a TTY, a plain line every few seconds otherwise.

export interface Progress {
  update(done: number, total: number, label?: string): void;
  finish(message?: string): void;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

export function byteProgress(stream: NodeJS.WriteStream = process.stderr, intervalMs = 5000): Progress {
  const started = Date.now();
  let lastLine = 0;
  const tty = stream.isTTY === true;
  const line = (done: number, total: number, label = '') => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const pct = total > 0 ? (100 * done) / total : 100;
    return { pct, text: `${formatBytes(done)} / ${formatBytes(total)} (${pct.toFixed(1)}%) ${formatBytes(rate)}/s ${label}` };
  };
  return {
    update(done, total, label) {
      const { pct, text } = line(done, total, label);
      if (tty) {
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`.slice(0, (stream.columns ?? 120) - 1).padEnd(Math.min(stream.columns ?? 120, 120) - 1));
      } else if (Date.now() - lastLine >= intervalMs || done >= total) {
        lastLine = Date.now();
        stream.write(`merged ${text}\n`);
      }
    },
    finish(message) {
      if (tty) stream.write('\n');
      if (message) stream.write(`${message}\n`);
    },
  };
}
