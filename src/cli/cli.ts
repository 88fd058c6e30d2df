// The command line as a function: finds the command named by the first
// arguments (the longest match, so `demo host` wins over `demo`), prints its
// help for --help/-h, parses and validates the rest (every check before any
// work), runs it and turns any failure into a message and an exit status
// (failure.ts). main.ts calls it with the real process; tests call it with
// buffers.
import { nearest, wantsHelp, wantsJson } from "./argv.js";
import { COMMANDS } from "./commands.js";
import { ExitStatus, reportFailure } from "./failure.js";
import { commandHelp, overview } from "./help-text.js";
import type { CliIo } from "./io.js";
import { usageError } from "./option-error.js";
import type { Command, CommandContext } from "./registry.js";

const isWord = (arg: string | undefined): arg is string => arg !== undefined && !arg.startsWith("-");

/** The command `argv` names and the arguments after its words. Throws ERR_USAGE for an unknown command. */
export function findCommand(argv: readonly string[], commands: readonly Command[]): { command: Command; args: readonly string[] } {
  const first = argv[0] === "--help" || argv[0] === "-h" ? "help" : argv[0];
  const words = [first, ...argv.slice(1)];
  const matches = commands.filter((c) => c.words.every((w, i) => words[i] === w));
  const command = matches.sort((a, b) => b.words.length - a.words.length)[0];
  const family = commands.filter((c) => c.words[0] === first);
  const tried = isWord(argv[1]) ? `${first} ${argv[1]}` : first;
  const longer = command ? family.filter((c) => c.words.length > command.words.length) : family;
  const unknownSubcommand = command && longer.length > 0 && Object.keys(command.positionals).length === 0 && isWord(argv[command.words.length]);
  if (command && !unknownSubcommand) return { command, args: argv.slice(command.words.length) };
  if (family.length > 0 && !isWord(argv[1]) && !command) {
    throw usageError(`${first} needs a subcommand: ${family.map((c) => c.name).join(", ")}`, { command: first });
  }
  const guess = nearest(tried, commands.map((c) => c.name));
  throw usageError(`unknown command ${JSON.stringify(tried)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ""}`, { command: tried });
}

/** Runs the command line `argv` (without node and the script) on `io`; returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  const json = wantsJson(argv);
  if (argv.length === 0) {
    io.stderr.write(`${overview(commands)}\n`);
    return ExitStatus.usage;
  }
  let found: { command: Command; args: readonly string[] };
  try {
    found = findCommand(argv, commands);
  } catch (err) {
    // `hypermem trace --help`: no one command, but help was asked for.
    if (!wantsHelp(argv)) return reportFailure(err, io, { label: "hypermem", phase: "parse", json, command: null });
    io.stdout.write(`${overview(commands)}\n`);
    return ExitStatus.ok;
  }
  const { command, args } = found;
  const failure = (phase: "parse" | "run") => ({ label: `hypermem ${command.name}`, phase, json, command: command.name });
  if (wantsHelp(args)) {
    io.stdout.write(`${commandHelp(command)}\n`);
    return ExitStatus.ok;
  }
  let plan: unknown;
  try {
    plan = await command.prepare(args);
  } catch (err) {
    return reportFailure(err, io, failure("parse"));
  }
  const interrupt = new AbortController();
  const watching = { stop: (): void => {}, started: false };
  const ctx: CommandContext = {
    stdout: io.stdout,
    stderr: io.stderr,
    commands,
    interrupts(): AbortSignal {
      if (!watching.started) {
        watching.stop = io.watchInterrupts(() => interrupt.abort());
        watching.started = true;
      }
      return interrupt.signal;
    },
  };
  try {
    return await command.run(plan, ctx);
  } catch (err) {
    return reportFailure(err, io, failure("run"));
  } finally {
    watching.stop();
  }
}
