// Files named on the command line, checked when the options are parsed so a
// bad path fails at once with the flag's name instead of as a raw ENOENT or
// EISDIR from deep inside a run: an input file must exist, be a regular file,
// open for reading and not be empty; an output file's folder must exist and be
// writable, and the file must not be a folder itself.
import { accessSync, closeSync, constants, openSync, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { optionError } from "./option-error.js";

const errnoCode = (err: unknown): string => (err as NodeJS.ErrnoException)?.code ?? "an unknown error";

function describeErrno(code: string): string {
  switch (code) {
    case "ENOENT": return "no such file";
    case "ENOTDIR": return "part of the path is not a folder";
    case "EACCES":
    case "EPERM": return "permission denied";
    case "ELOOP": return "too many symbolic links";
    case "ENAMETOOLONG": return "the name is too long";
    default: return code;
  }
}

/**
 * Checks the input file `path` of `flag` (the user typed `text`, which may
 * hold more than the path, as in trace:FILE). Throws ERR_BAD_OPTION naming
 * the flag, the text and what is wrong.
 */
export function checkInputFile(flag: string, text: string, path: string): void {
  const fail = (why: string, code?: string): Error => optionError(flag, text, why, { path, ...(code ? { errno: code } : {}) });
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    throw fail(`cannot read ${path}: ${describeErrno(errnoCode(err))}`, errnoCode(err));
  }
  if (st.isDirectory()) throw fail(`${path} is a folder, not a file`);
  if (!st.isFile()) throw fail(`${path} is not a regular file`);
  try {
    closeSync(openSync(path, "r"));
  } catch (err) {
    throw fail(`cannot read ${path}: ${describeErrno(errnoCode(err))}`, errnoCode(err));
  }
  if (st.size === 0) throw fail(`${path} is empty`);
}

/** Checks the output file `path` of `flag`: its folder exists and is writable, and it is not a folder. */
export function checkOutputFile(flag: string, path: string): void {
  const fail = (why: string): Error => optionError(flag, path, why, { path });
  if (path === "") throw fail("an empty file name");
  const folder = dirname(resolve(path));
  let dir: Stats;
  try {
    dir = statSync(folder);
  } catch (err) {
    throw fail(`cannot write into folder ${folder}: ${describeErrno(errnoCode(err))}`);
  }
  if (!dir.isDirectory()) throw fail(`${folder} is not a folder`);
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw fail(`cannot write into folder ${folder}: ${describeErrno(errnoCode(err))}`);
  }
  let target: Stats | null = null;
  try {
    target = statSync(path);
  } catch {
    // a new file
  }
  if (target?.isDirectory()) throw fail(`${path} is a folder; name a file inside it`);
  if (target && !target.isFile()) throw fail(`${path} exists and is not a regular file`);
}
