// The config section of a snapshot file: the VM's configuration as JSON
// (UTF-8), what a restore needs besides memory, like Firecracker's VM
// state. Every key is checked on read; unknown keys are refused.
//
//   {
//     "guestPages": 16384,
//     "base": null | { "path": "base.hmsn", "id": "<32 hex digits>" },
//     "workload": null | {
//       "options": { "kind": "hotcold", "hotFraction": 0.1, "hotProbability": 0.9,
//                    "ratePerSec": 1000000, "writeFraction": 0.3, "writeBytes": 64,
//                    "seed": "1", "firstPage": 0, "pageCount": 16384 },
//       "state": "<base64 of the workload's state record, src/host/workload-state.ts>"
//     }
//   }
//
// base.path is relative to the folder of the diff file (or absolute).
// The workload's state is taken at the instant of the request, so a restored
// guest goes on issuing the accesses it would have issued from there.
import { ErrorCode, HypermemError } from "../errors.js";
import type { GuestWorkload, WorkloadState } from "../host/guest-workload.js";
import { decodeWorkloadState, encodeWorkloadState } from "../host/workload-state.js";
import { resolveWorkloadOptions, type WorkloadOptions } from "../host/workload.js";
import { corrupt, ID_BYTES, MAX_CONFIG_BYTES } from "./format.js";

/** The saved workload: its options and its state at the instant. */
export interface SavedWorkload {
  readonly options: WorkloadOptions;
  readonly state: WorkloadState;
}

export interface SnapshotConfig {
  readonly guestPages: number;
  readonly base: { readonly path: string; readonly id: string } | null;
  readonly workload: SavedWorkload | null;
}

/** The options a running workload was started with, as plain values (the seed as a decimal string in JSON). */
export function workloadOptionsOf(workload: GuestWorkload): WorkloadOptions {
  const o = workload.generator.options;
  if (o.spec.kind === "trace") {
    throw new HypermemError(ErrorCode.BadOption, `a trace replay (${o.spec.path}) has no state a snapshot can keep; save without the workload`, { option: "workload", value: "trace" });
  }
  return { ...o.spec, ratePerSec: workload.ratePerSec, writeFraction: o.writeFraction, writeBytes: o.writeBytes, seed: o.seed, firstPage: o.firstPage, pageCount: o.pageCount };
}

export function encodeConfig(config: SnapshotConfig): Uint8Array {
  const workload = config.workload === null ? null : {
    options: { ...config.workload.options, seed: String(config.workload.options.seed ?? 1) },
    state: Buffer.from(encodeWorkloadState(config.workload.state)).toString("base64"),
  };
  const bytes = new TextEncoder().encode(JSON.stringify({ guestPages: config.guestPages, base: config.base, workload }));
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new HypermemError(ErrorCode.BadOption, `the snapshot config takes ${bytes.length} bytes, more than ${MAX_CONFIG_BYTES}`, { bytes: bytes.length });
  }
  return bytes;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function keysExactly(v: Record<string, unknown>, keys: readonly string[], what: string, path: string): void {
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw corrupt(path, "config", `${what} has an unknown key ${JSON.stringify(k)}`, { key: k });
  for (const k of keys) if (!(k in v)) throw corrupt(path, "config", `${what} lacks ${JSON.stringify(k)}`, { key: k });
}

function decodeBase(v: unknown, path: string): SnapshotConfig["base"] {
  if (v === null) return null;
  if (!isObject(v)) throw corrupt(path, "config", "config.base is neither null nor an object");
  keysExactly(v, ["path", "id"], "config.base", path);
  if (typeof v.path !== "string" || v.path === "") throw corrupt(path, "config", `config.base.path is ${JSON.stringify(v.path)}, not a file path`);
  if (typeof v.id !== "string" || !new RegExp(`^[0-9a-f]{${ID_BYTES * 2}}$`).test(v.id)) throw corrupt(path, "config", `config.base.id is ${JSON.stringify(v.id)}, not ${ID_BYTES * 2} hex digits`);
  return Object.freeze({ path: v.path, id: v.id });
}

function decodeWorkload(v: unknown, guestPages: number, path: string): SavedWorkload | null {
  if (v === null) return null;
  if (!isObject(v)) throw corrupt(path, "config", "config.workload is neither null nor an object");
  keysExactly(v, ["options", "state"], "config.workload", path);
  if (!isObject(v.options) || typeof v.options.seed !== "string" || !/^\d{1,20}$/.test(v.options.seed)) {
    throw corrupt(path, "config", "config.workload.options is not a workload with a decimal seed");
  }
  if (typeof v.state !== "string") throw corrupt(path, "config", "config.workload.state is not a base64 string");
  const options = { ...v.options, seed: BigInt(v.options.seed) } as unknown as WorkloadOptions;
  try {
    resolveWorkloadOptions(options, guestPages);
    return Object.freeze({ options: Object.freeze(options), state: decodeWorkloadState(new Uint8Array(Buffer.from(v.state, "base64")), path) });
  } catch (err) {
    if (!(err instanceof HypermemError)) throw err;
    throw corrupt(path, "config", `config.workload: ${err.message}`, { cause: err.code });
  }
}

/** Decodes and checks the config of a snapshot of `guestPages` pages. */
export function decodeConfig(bytes: Uint8Array, guestPages: number, path: string): SnapshotConfig {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw corrupt(path, "config", `the config is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(value)) throw corrupt(path, "config", "the config is not a JSON object");
  keysExactly(value, ["guestPages", "base", "workload"], "the config", path);
  if (value.guestPages !== guestPages) {
    throw corrupt(path, "config", `the config says ${String(value.guestPages)} guest pages, the header ${guestPages}`, { value: value.guestPages, expected: guestPages });
  }
  return Object.freeze({ guestPages, base: decodeBase(value.base, path), workload: decodeWorkload(value.workload, guestPages, path) });
}
