// Runs the hypermem CLI in process with its output captured: what a test of a
// command needs to check its exit status, stdout and stderr.
import { runCli } from "../src/cli/cli.js";
import type { CliIo } from "../src/cli/io.js";

export interface CliRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `hypermem argv` in this process (no interrupts watched, no debug output). */
export async function runCaptured(argv: readonly string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (t: string) => { stdout += t; } },
    stderr: { write: (t: string) => { stderr += t; } },
    debug: false,
    watchInterrupts: () => () => {},
  };
  const status = await runCli(argv, io);
  return { status, stdout, stderr };
}
