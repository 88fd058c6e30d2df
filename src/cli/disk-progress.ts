// Progress of a disk command on stderr: a redrawn bar on a terminal, one
// plain line per step otherwise (an acknowledgement, an image's run of
// extents), so stdout stays clean for --json.
import type { TextSink } from "./registry.js";
import { formatBytes } from "./units.js";

const BAR_WIDTH = 28;
const REDRAW_MS = 80;

export class ByteProgress {
  readonly #tty: boolean;
  readonly #out: TextSink;
  readonly #label: string;
  #lastDraw = 0;
  #drawn = false;

  constructor(label: string, out: TextSink) {
    this.#label = label;
    this.#out = out;
    this.#tty = out.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  }

  /** Redraws the bar (at most every 80 ms) on a terminal; nothing otherwise. */
  bar(doneBytes: number, totalBytes: number, note: string): void {
    if (!this.#tty) return;
    const now = performance.now();
    if (now - this.#lastDraw < REDRAW_MS && doneBytes < totalBytes) return;
    this.#lastDraw = now;
    this.#drawn = true;
    const share = totalBytes === 0 ? 1 : Math.max(0, Math.min(1, doneBytes / totalBytes));
    const fill = Math.round(share * BAR_WIDTH);
    this.#out.write(`\r${this.#label} [${"#".repeat(fill)}${".".repeat(BAR_WIDTH - fill)}] ${formatBytes(doneBytes)} / ${formatBytes(totalBytes)} ${note}\x1b[K`);
  }

  /** A line when not on a terminal (logs, pipes, CI). */
  line(text: string): void {
    if (!this.#tty) this.#out.write(`${this.#label}: ${text}\n`);
  }

  done(): void {
    if (this.#drawn) this.#out.write("\n");
    this.#drawn = false;
  }
}
