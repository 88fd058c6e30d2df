// Where the command line reads its environment and writes: the process's
// stdout, stderr, signals and HYPERMEM_DEBUG, or test doubles of them.
import type { TextSink } from "./registry.js";

export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Print stack traces (HYPERMEM_DEBUG=1). */
  readonly debug: boolean;
  /** Calls `onInterrupt` on SIGINT or SIGTERM until the returned function is called. */
  watchInterrupts(onInterrupt: () => void): () => void;
}

/** The real process. */
export function processIo(): CliIo {
  return Object.freeze({
    stdout: process.stdout,
    stderr: process.stderr,
    debug: process.env.HYPERMEM_DEBUG === "1",
    watchInterrupts(onInterrupt: () => void): () => void {
      process.on("SIGINT", onInterrupt);
      process.on("SIGTERM", onInterrupt);
      return () => {
        process.off("SIGINT", onInterrupt);
        process.off("SIGTERM", onInterrupt);
      };
    },
  });
}
