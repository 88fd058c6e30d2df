// The command registry. A command is one defineCommand() in its own file: its
// name (one word, or several as in `demo host`), a summary, typed options
// (option-kinds.ts: units, defaults, help, rules), positional arguments,
// cross-option rules, examples, an optional validate step and a run function.
// `hypermem help` is generated from these definitions (help.ts).
//
// Parsing is one pipeline, and all of it runs before any work starts:
//
//   argv ──► splitArgs (flags, positionals; ERR_USAGE) ──► required flags
//   present ──► cross-option rules (notWith, needs) ──► positional arguments,
//   then each flag's value, through its kind (ERR_BAD_OPTION naming the flag)
//   ──► validate(values) (rules that need several values: does the guest fit
//   the host...) ──► plan
//
// run(plan) only does the work.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";
import { splitArgs } from "./argv.js";
import type { Opt } from "./option-kinds.js";
import { shown, usageError } from "./option-error.js";

export type OptionTable = Readonly<Record<string, Opt<unknown, boolean>>>;
type ValueOf<O> = O extends Opt<infer T, infer H> ? (H extends true ? T : T | undefined) : never;
/** The parsed values of an option table: always there when the option has a default or is required. */
export type Values<O extends OptionTable> = { readonly [K in keyof O]: ValueOf<O[K]> };

/** Where a command writes: stdout and stderr, or test buffers. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface CommandContext {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Every registered command (for help). */
  readonly commands: readonly Command[];
  /** Fires on SIGINT or SIGTERM; the handlers are installed on the first call and removed when the command ends. */
  interrupts(): AbortSignal;
}

/** [flag, other flag, why]: the rule between two options of a command. */
export type PairRule<K extends string> = readonly [K, K, string];

export interface CommandDefinition<O extends OptionTable, A extends OptionTable, Plan> {
  /** "migrate", or ["demo", "host"] for `hypermem demo host`. */
  readonly name: string | readonly string[];
  /** One line, for the command list. */
  readonly summary: string;
  /** A paragraph for the command's own help. */
  readonly description?: string;
  readonly options: O;
  /** Positional arguments, in order. */
  readonly positionals?: A;
  /** Flags that cannot be given together, and flags that need another. */
  readonly rules?: { readonly notWith?: ReadonlyArray<PairRule<keyof O & string>>; readonly needs?: ReadonlyArray<PairRule<keyof O & string>> };
  readonly examples?: readonly string[];
  /** Checks that need several values, and derived values; every refusal happens here, before run(). */
  readonly validate?: (values: Values<O> & Values<A>, given: ReadonlyMap<string, string>) => Plan | Promise<Plan>;
  /** Does the work; returns the exit status. */
  readonly run: (plan: Plan, ctx: CommandContext) => number | Promise<number>;
}

/** A registered command, its types erased (the registry holds commands of every shape). */
export interface Command {
  readonly words: readonly string[];
  /** The words joined by spaces: "demo host". */
  readonly name: string;
  readonly summary: string;
  readonly description: string | null;
  readonly options: OptionTable;
  readonly positionals: OptionTable;
  readonly notWith: ReadonlyArray<PairRule<string>>;
  readonly needs: ReadonlyArray<PairRule<string>>;
  readonly examples: readonly string[];
  /** Parses and validates the arguments after the command's words: every check, no work. */
  prepare(args: readonly string[]): Promise<unknown>;
  run(plan: unknown, ctx: CommandContext): Promise<number>;
}

const DEFINITION_KEYS = ["name", "summary", "description", "options", "positionals", "rules", "examples", "validate", "run"];

/** The flag and the user's text as a message starts: `--bandwidth 1Gbit`, or `--xbzrle` for a boolean flag. */
function flagAndText(name: string, text: string, option: Opt<unknown, boolean>): string {
  return option.placeholder === null ? `--${name}` : `--${name} ${shown(text)}`;
}

/** Usage of one flag: `--port P`, `--json`. */
export function flagUsage(name: string, option: Opt<unknown, boolean>): string {
  return option.placeholder === null ? `--${name}` : `--${name} ${option.placeholder}`;
}

function checkRules(cmd: Command, given: ReadonlyMap<string, string>): void {
  for (const [name, other, why] of cmd.notWith) {
    if (given.has(name) && given.has(other)) {
      throw new HypermemError(ErrorCode.BadOption, `${flagAndText(name, given.get(name)!, cmd.options[name])}: not with --${other} (${why})`, { option: `--${name}`, conflictsWith: `--${other}` });
    }
  }
  for (const [name, other, why] of cmd.needs) {
    if (given.has(name) && !given.has(other)) {
      throw new HypermemError(ErrorCode.BadOption, `${flagAndText(name, given.get(name)!, cmd.options[name])}: needs ${flagUsage(other, cmd.options[other])} (${why})`, { option: `--${name}`, needs: `--${other}` });
    }
  }
}

function parsePositionals(cmd: Command, texts: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const entries = Object.entries(cmd.positionals);
  let i = 0;
  for (const [name, option] of entries) {
    const text = option.variadic ? (i < texts.length ? texts.slice(i).join(" ") : undefined) : texts[i];
    i = option.variadic ? texts.length : i + 1;
    if (text === undefined) {
      if (option.required) throw usageError(`missing ${option.placeholder ?? name} (${option.help})`, { argument: option.placeholder ?? name });
      continue;
    }
    values[name] = option.parse(text, option.placeholder ?? name);
  }
  if (i < texts.length) {
    throw usageError(`unexpected argument ${JSON.stringify(texts[i])}${entries.length === 0 ? ` (${cmd.name} takes no arguments, only flags)` : ""}`, { argument: texts[i] });
  }
  return values;
}

function requireFlags(cmd: Command, given: ReadonlyMap<string, string>): void {
  const missing = Object.entries(cmd.options).filter(([name, o]) => o.required && !given.has(name));
  if (missing.length > 0) {
    const flags = missing.map(([name, o]) => flagUsage(name, o));
    throw usageError(`missing ${flags.join(" and ")} (required)`, { option: `--${missing[0][0]}` });
  }
}

function parseOptions(cmd: Command, given: ReadonlyMap<string, string>, repeated: ReadonlyMap<string, readonly string[]>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(cmd.options)) {
    const text = given.get(name);
    const texts = repeated.get(name);
    if (option.placeholder === null) values[name] = text !== undefined;
    else if (option.repeatable && texts !== undefined) values[name] = texts.flatMap((t) => option.parse(t, `--${name}`) as unknown[]);
    else if (text !== undefined) values[name] = option.parse(text, `--${name}`);
    else if (option.default !== null) values[name] = option.parse(option.default, `--${name}`);
  }
  return values;
}

/** Registers a command: its definition is checked once and frozen. */
export function defineCommand<const O extends OptionTable, const A extends OptionTable = Record<never, never>, Plan = Values<O> & Values<A>>(
  def: CommandDefinition<O, A, Plan>,
): Command {
  rejectUnknown(def, DEFINITION_KEYS, "defineCommand");
  const words = typeof def.name === "string" ? [def.name] : [...def.name];
  const command: Command = Object.freeze({
    words: Object.freeze(words),
    name: words.join(" "),
    summary: def.summary,
    description: def.description ?? null,
    options: def.options,
    positionals: def.positionals ?? {},
    notWith: def.rules?.notWith ?? [],
    needs: def.rules?.needs ?? [],
    examples: def.examples ?? [],
    async prepare(args: readonly string[]): Promise<unknown> {
      const valued = new Map<string, string>();
      const booleans = new Set<string>();
      const repeatable = new Set<string>();
      for (const [name, o] of Object.entries(def.options)) {
        if (o.placeholder === null) booleans.add(name);
        else valued.set(name, o.placeholder);
        if (o.repeatable) repeatable.add(name);
      }
      const { given, repeated, positionals } = splitArgs(args, { valued, booleans, repeatable });
      requireFlags(command, given);
      checkRules(command, given);
      const fromPositionals = parsePositionals(command, positionals);
      const fromFlags = parseOptions(command, given, repeated);
      const values = Object.freeze({ ...fromFlags, ...fromPositionals }) as Values<O> & Values<A>;
      return def.validate ? await def.validate(values, given) : values;
    },
    async run(plan: unknown, ctx: CommandContext): Promise<number> {
      return def.run(plan as Plan, ctx);
    },
  });
  return command;
}
