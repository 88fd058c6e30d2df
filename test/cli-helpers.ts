// Running `hypermem` in process for the CLI tests: argv in, exit status and
// what it wrote to stdout and stderr out.
import { runCli } from "../src/cli/cli.js";
import type { CliIo } from "../src/cli/io.js";

/** Runs `hypermem ARGV` in process and captures its exit status, stdout and stderr (no interrupts, no debug). */
export async function runCliCaptured(argv: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
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
