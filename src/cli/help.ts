// `hypermem help [COMMAND]`: the command list and every command's options, or
// one command's help. (`hypermem COMMAND --help` prints the same as
// `hypermem help COMMAND`; see cli.ts.)
import { commandHelp, fullHelp } from "./help-text.js";
import { words } from "./option-kinds.js";
import { nearest } from "./argv.js";
import { usageError } from "./option-error.js";
import { defineCommand } from "./registry.js";

export const helpCommand = defineCommand({
  name: "help",
  summary: "this list and every command's options, or one command's help: hypermem help COMMAND",
  options: {},
  positionals: { command: words({ help: "the command to describe, e.g. migrate or demo host", placeholder: "COMMAND" }) },
  examples: ["hypermem help", "hypermem help demo host"],
  run({ command: name }, ctx) {
    if (name === undefined) {
      ctx.stdout.write(`${fullHelp(ctx.commands)}\n`);
      return 0;
    }
    const command = ctx.commands.find((c) => c.name === name);
    if (command === undefined) {
      const guess = nearest(name, ctx.commands.map((c) => c.name));
      throw usageError(`no command ${JSON.stringify(name)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ""}; hypermem help lists them`, { command: name });
    }
    ctx.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  },
});
