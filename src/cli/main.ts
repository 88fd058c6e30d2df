#!/usr/bin/env node
// The `hypermem` command.
import { parseArgs } from "node:util";
import { HypermemError } from "../errors.js";
import { DEMO_DEFAULTS, runHostDemo, runMigrationDemo } from "./demo.js";
import { LISTEN_USAGE, listenCommand } from "./listen.js";
import { MIGRATE_USAGE, migrateCommand } from "./migrate.js";
import { parseNumber, parseSize } from "./units.js";

const USAGE = `usage: hypermem <command> [options]

commands:
  demo        the flagship: live-migrate a 1 GiB guest over 10 Gbit, plainly and with
              XBZRLE + auto-converge, and compare the two
  demo host   run a Zipf write workload on a 1 GiB guest for one simulated second and
              summarise what the host did
              --guest SIZE (1GiB)  --rate N (2000000 accesses/s)  --zipf S (1.1)  --seed N (1)
  migrate     live-migrate a guest between two simulated hosts (see below)
  listen      run a destination host that receives migrations over TCP (see below)
  help        this text

${MIGRATE_USAGE}

${LISTEN_USAGE}`;

async function demo(args: string[]): Promise<void> {
  if (args[0] !== "host") {
    parseArgs({ args, options: {}, strict: true });
    console.log((await runMigrationDemo(true)).text);
    return;
  }
  const { values } = parseArgs({
    args: args.slice(1),
    options: { guest: { type: "string" }, rate: { type: "string" }, zipf: { type: "string" }, seed: { type: "string" } },
    strict: true,
  });
  const guestBytes = values.guest ? parseSize("--guest", values.guest) : DEMO_DEFAULTS.guestMiB * 2 ** 20;
  const lines = runHostDemo({
    guestMiB: guestBytes / 2 ** 20,
    seconds: 1,
    ratePerSec: values.rate ? parseNumber("--rate", values.rate, 1, 2 ** 32 - 1) : DEMO_DEFAULTS.ratePerSec,
    zipfS: values.zipf ? parseNumber("--zipf", values.zipf, 0.01, 100) : DEMO_DEFAULTS.zipfS,
    seed: values.seed ? parseNumber("--seed", values.seed, 0, Number.MAX_SAFE_INTEGER) : DEMO_DEFAULTS.seed,
  });
  for (const l of lines) console.log(l);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "demo":
        await demo(rest);
        return 0;
      case "migrate":
        return await migrateCommand(rest);
      case "listen":
        return await listenCommand(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        console.error(`hypermem: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof HypermemError || (err instanceof TypeError && "code" in err)) {
      console.error(`hypermem ${command}: ${(err as Error).message}`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
