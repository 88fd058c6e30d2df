// What a failed command prints and the exit status it returns. Nothing that
// reaches the user is a raw stack trace:
//
//   error                           stderr                                       status
//   ──────────────────────────────  ───────────────────────────────────────────  ──────
//   HypermemError while parsing     hypermem COMMAND: message                    2
//   ERR_USAGE / ERR_BAD_OPTION /    hypermem COMMAND: message (+ where to find   2
//     ERR_UNKNOWN_OPTION later        the options, for ERR_USAGE)
//   any other HypermemError         hypermem COMMAND: message                    1
//   a failed system call (ENOSPC…)  hypermem COMMAND: message (ERR_SYSTEM)       1
//   anything else (a bug)           hypermem COMMAND: internal error: message    70
//                                     (please report)
//
// With --json the same error is also one JSON object on stdout:
// {"error":{"code","message","option"?, ...details}}. HYPERMEM_DEBUG=1 adds
// the stack trace on stderr.
import { ErrorCode, HypermemError } from "../errors.js";
import type { CliIo } from "./io.js";

export const ExitStatus = Object.freeze({ ok: 0, failed: 1, usage: 2, internal: 70, interrupted: 130 });

const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCode.Usage, ErrorCode.BadOption, ErrorCode.UnknownOption]);

export interface FailureContext {
  /** "hypermem migrate", or "hypermem" before a command is known. */
  readonly label: string;
  /** Errors while parsing and validating are the user's input: status 2. */
  readonly phase: "parse" | "run";
  readonly json: boolean;
  /** The command, for the pointer to its help on a usage error. */
  readonly command: string | null;
}

/** bigint details (trace header fields) as decimal strings, so the object always serialises. */
const jsonSafe = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? value.toString() : value);

function errorObject(code: string, message: string, details: Readonly<Record<string, unknown>>): string {
  const { code: _code, message: _message, ...rest } = details;
  return JSON.stringify({ error: { code, message, ...rest } }, jsonSafe);
}

/** A Node error from a system call: it has an errno code ("ENOSPC") and the call's name. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string" && typeof (err as NodeJS.ErrnoException).syscall === "string";
}

/** Reports `err` on `io` and returns the exit status. */
export function reportFailure(err: unknown, io: CliIo, f: FailureContext): number {
  if (err instanceof HypermemError) {
    const status = f.phase === "parse" || USAGE_CODES.has(err.code) ? ExitStatus.usage : ExitStatus.failed;
    const hint = err.code !== ErrorCode.Usage ? "" : f.command ? `\n(hypermem help ${f.command} lists its options)` : "\n(hypermem help lists the commands)";
    io.stderr.write(`${f.label}: ${err.message}${hint}\n`);
    if (io.debug && err.stack) io.stderr.write(`${err.stack}\n`);
    if (f.json) io.stdout.write(`${errorObject(err.code, err.message, err.details)}\n`);
    return status;
  }
  if (isSystemError(err)) {
    io.stderr.write(`${f.label}: ${err.message}\n`);
    if (io.debug && err.stack) io.stderr.write(`${err.stack}\n`);
    if (f.json) io.stdout.write(`${errorObject(ErrorCode.System, err.message, { errno: err.code, syscall: err.syscall, path: err.path })}\n`);
    return ExitStatus.failed;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`${f.label}: internal error: ${message} (please report)\n`);
  if (io.debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  if (f.json) io.stdout.write(`${errorObject(ErrorCode.Internal, message, {})}\n`);
  return ExitStatus.internal;
}
