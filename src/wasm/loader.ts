// Loads build/hypermem.wasm: compiled once per process (sync, so hosts and the
// package-level helpers can be created without await), instantiated once per
// owner so every Host has its own linear memory.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ErrorCode, HypermemError } from "../errors.js";
import type { HvExports } from "./abi.js";

const WASM_URL = new URL("../../build/hypermem.wasm", import.meta.url);
let compiled: WebAssembly.Module | undefined;

function loadModule(): WebAssembly.Module {
  if (compiled) return compiled;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(WASM_URL));
  } catch (err) {
    throw new HypermemError(
      ErrorCode.WasmAbort,
      `cannot read ${fileURLToPath(WASM_URL)} (${(err as Error).message}): run "npm run build:wasm"`,
    );
  }
  compiled = new WebAssembly.Module(bytes);
  return compiled;
}

/** Decodes an AssemblyScript string (UTF-16, byte length at ptr - 4). */
function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

/** A fresh instance with its own memory. */
export function instantiate(): HvExports {
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      abort(msg: number, file: number, line: number, col: number): never {
        const m = memory ? `${readAsString(memory, msg)} at ${readAsString(memory, file)}:${line}:${col}` : "abort";
        throw new HypermemError(ErrorCode.WasmAbort, `wasm abort: ${m}`);
      },
    },
  };
  const instance = new WebAssembly.Instance(loadModule(), imports);
  const exports = instance.exports as unknown as HvExports;
  memory = exports.memory;
  return exports;
}
