// Runs the CLI in process with its output captured, for tests of commands:
// the exit status and everything written to stdout and stderr.
import { runCli } from "../src/cli/cli.js";
import type { CliIo } from "../src/cli/io.js";

export interface CapturedRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `hypermem argv...` in this process, as a user would type it, and captures what it prints. */
export async function runCliCaptured(argv: readonly string[]): Promise<CapturedRun> {
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
