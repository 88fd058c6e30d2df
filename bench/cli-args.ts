// The bench scripts' command lines: node's parseArgs, with a bad flag or
// value reported as one line that names it, the script's usage, and exit
// status 2 (no stack trace), as the hypermem CLI does.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Prints `command: message` and the usage to stderr and exits with status 2. */
export function usageError(command: string, usage: string, message: string): never {
  process.stderr.write(`${command}: ${message}\nusage: ${usage}\n`);
  process.exit(2);
}

/** The parsed flags of `config`, or a usage error naming the flag node refused. */
export function benchArgs<const C extends ParseArgsConfig>(command: string, usage: string, config: C): ReturnType<typeof parseArgs<C>>["values"] {
  try {
    return parseArgs(config).values;
  } catch (err) {
    return usageError(command, usage, (err as Error).message);
  }
}
