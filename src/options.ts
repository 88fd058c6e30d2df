// Validation helpers for option objects: unknown keys and bad values are
// typed errors that name the option and the value. Options are read, never
// mutated; resolvers return new frozen objects.
import { ErrorCode, HypermemError } from "./errors.js";

/** Throws ERR_UNKNOWN_OPTION for any key of `options` not in `known`. */
export function rejectUnknown(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new HypermemError(ErrorCode.UnknownOption, `${where}: unknown option "${key}" (known: ${known.join(", ")})`, { option: key });
    }
  }
}

/** An integer in [min, max], or ERR_BAD_OPTION naming `name` and the value. */
export function requireInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new HypermemError(ErrorCode.BadOption, `${name} must be an integer in [${min}, ${max}], got ${String(value)}`, { option: name, value });
  }
  return value;
}

/** A finite number in [min, max], or ERR_BAD_OPTION naming `name` and the value. */
export function requireNumber(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new HypermemError(ErrorCode.BadOption, `${name} must be a number in [${min}, ${max}], got ${String(value)}`, { option: name, value });
  }
  return value;
}
