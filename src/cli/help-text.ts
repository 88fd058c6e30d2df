// Help generated from the registry: the command list, and for each command its
// usage line, description, options table (placeholder, help, rule in the
// user's units, rules between flags, default as the user would type it) and
// examples. Nothing here is written by hand per command.
import type { Opt } from "./option-kinds.js";
import { flagUsage, type Command } from "./registry.js";

const WIDTH = 100;
const FLAG_COLUMN = 28;

/** Greedy word wrap of `text` into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** `left` in a column, `text` wrapped beside it. */
function row(left: string, text: string): string {
  const lines = wrap(text, WIDTH - FLAG_COLUMN);
  const pad = " ".repeat(FLAG_COLUMN);
  const first = left.length < FLAG_COLUMN - 1 ? left.padEnd(FLAG_COLUMN) : `${left}\n${pad}`;
  return `${first}${lines.map((l, i) => (i === 0 ? l : `${pad}${l}`)).join("\n")}`.trimEnd();
}

/** `hypermem listen --port P --token-file FILE [options]`. */
export function usageLine(cmd: Command): string {
  const required = Object.entries(cmd.options).filter(([, o]) => o.required).map(([name, o]) => flagUsage(name, o));
  const args = Object.values(cmd.positionals).map((o) => {
    const name = `${o.placeholder}${o.variadic ? "..." : ""}`;
    return o.required ? name : `[${name}]`;
  });
  const hasOptional = Object.values(cmd.options).some((o) => !o.required);
  return ["hypermem", ...cmd.words, ...required, ...args, ...(hasOptional ? ["[options]"] : [])].join(" ");
}

/** The help column of one option: its help, rule, the rules with other flags, and its default. */
function describeOption(cmd: Command, name: string, o: Opt<unknown, boolean>): string {
  const parts = [o.help + (o.rule ? `; ${o.rule}` : "")];
  for (const [a, b] of cmd.notWith) {
    if (a === name) parts.push(`not with --${b}`);
    if (b === name) parts.push(`not with --${a}`);
  }
  for (const [a, b] of cmd.needs) if (a === name) parts.push(`needs --${b}`);
  if (o.required) parts.push("required");
  if (o.repeatable) parts.push("may be given more than once");
  if (o.default !== null) parts.push(`default ${o.default}`);
  else if (o.defaultNote !== null) parts.push(`default: ${o.defaultNote}`);
  return parts.length === 1 ? parts[0] : `${parts[0]} (${parts.slice(1).join("; ")})`;
}

/** The whole help of one command. */
export function commandHelp(cmd: Command): string {
  const out = [`usage: ${usageLine(cmd)}`, "", ...wrap(cmd.description ?? cmd.summary, WIDTH)];
  const args = Object.values(cmd.positionals);
  if (args.length > 0) {
    out.push("", "arguments:", ...args.map((o) => row(`  ${o.placeholder}`, describeOption(cmd, "", o))));
  }
  out.push("", "options:");
  for (const [name, o] of Object.entries(cmd.options)) out.push(row(`  ${flagUsage(name, o)}`, describeOption(cmd, name, o)));
  out.push(row("  --help, -h", "this help"));
  if (cmd.examples.length > 0) out.push("", "examples:", ...cmd.examples.map((e) => `  ${e}`));
  return out.join("\n");
}

/** The command list. */
export function overview(commands: readonly Command[]): string {
  return [
    "usage: hypermem COMMAND [options]",
    "       hypermem help [COMMAND]          (or hypermem COMMAND --help)",
    "",
    "commands:",
    ...commands.map((c) => row(`  ${c.name}`, c.summary)),
  ].join("\n");
}

/** The command list, then every command's help: every option of every command. */
export function fullHelp(commands: readonly Command[]): string {
  const divider = `\n\n${"─".repeat(40)}\n\n`;
  return [overview(commands), ...commands.map(commandHelp)].join(divider);
}
