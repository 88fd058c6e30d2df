// Progress of a running migration: a redrawn bar on a terminal, one plain
// line per round otherwise (logs, pipes, CI). Written to stderr so stdout
// stays clean for --json.
import type { MigrationProgress } from "../migration/stats.js";
import type { TextSink } from "./registry.js";

const BAR_WIDTH = 28;
const REDRAW_MS = 80;

export class ProgressReporter {
  readonly #tty: boolean;
  readonly #out: TextSink;
  readonly #totalBytes: number;
  #lastRound = -1;
  #lastDraw = 0;

  constructor(totalBytes: number, out: TextSink) {
    this.#out = out;
    this.#tty = out.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
    this.#totalBytes = totalBytes;
  }

  #describe(p: MigrationProgress): string {
    const mib = (p.remainingBytes / 2 ** 20).toFixed(1);
    const rate = (p.dirtyPagesRate * 4096 / 2 ** 20).toFixed(0);
    return `round ${p.round}  remaining ${mib} MiB  dirty ${rate} MiB/s  throttle ${p.throttlePct}%  t=${(p.elapsedMs / 1e3).toFixed(2)} s`;
  }

  update(p: MigrationProgress): void {
    if (!this.#tty) {
      if (p.round !== this.#lastRound && p.phase === "precopy") this.#out.write(`${this.#describe(p)}\n`);
      this.#lastRound = p.round;
      return;
    }
    const now = performance.now();
    if (now - this.#lastDraw < REDRAW_MS && p.round === this.#lastRound) return;
    this.#lastDraw = now;
    this.#lastRound = p.round;
    const done = Math.max(0, Math.min(1, 1 - p.remainingBytes / this.#totalBytes));
    const fill = Math.round(done * BAR_WIDTH);
    this.#out.write(`\r[${"#".repeat(fill)}${".".repeat(BAR_WIDTH - fill)}] ${p.phase === "stop-and-copy" ? "stop-and-copy " : ""}${this.#describe(p)}\x1b[K`);
  }

  done(): void {
    if (this.#tty && this.#lastRound >= 0) this.#out.write("\n");
  }
}
