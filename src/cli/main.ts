#!/usr/bin/env node
// The `hypermem` command: the command line (cli.ts) on this process. An error
// that escapes it (an event handler's, after the command returned) is still
// reported as an internal error, never as a raw stack trace.
import { runCli } from "./cli.js";
import { ExitStatus, reportFailure } from "./failure.js";
import { processIo } from "./io.js";

const io = processIo();
const escaped = (err: unknown): void => {
  reportFailure(err, io, { label: "hypermem", phase: "run", json: false, command: null });
  process.exit(ExitStatus.internal);
};
process.on("uncaughtException", escaped);
process.on("unhandledRejection", escaped);
// A closed pipe (`hypermem help | head`) ends the output, not the program with an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") escaped(err);
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await runCli(process.argv.slice(2), io);
