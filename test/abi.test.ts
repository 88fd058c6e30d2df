// The PTE bits, fault reasons and status codes are defined in assembly/ and
// mirrored in src/: both sides must agree.
import { describe, expect, it } from "vitest";
import { KernelStatus } from "../src/errors.js";
import { FaultReason } from "../src/host/fault.js";
import { PTE } from "../src/host/pte.js";
import { Kernels } from "../src/wasm/kernels.js";

const k = new Kernels(1 << 16, 4);
const abi = (name: string): bigint | number => (k.exports[`ABI_${name}`] as WebAssembly.Global).value as bigint | number;

describe("ABI agreement", () => {
  it("PTE bits", () => {
    for (const [name, bit] of Object.entries(PTE)) expect([name, abi(`PTE_${name}`)]).toEqual([name, bit]);
  });
  it("fault reasons", () => {
    const names: Record<string, string> = {
      NotPresent: "NOT_PRESENT", WriteProtect: "WRITE_PROTECT", Cow: "COW", Poisoned: "POISONED",
      Traced: "TRACED", Swapped: "SWAPPED", Ballooned: "BALLOONED", BadAccess: "BAD_ACCESS",
    };
    for (const [name, value] of Object.entries(FaultReason)) expect([name, abi(`FAULT_${names[name]}`)]).toEqual([name, value]);
  });
  it("kernel status codes", () => {
    const names: Record<string, string> = {
      OutOfFrames: "OUT_OF_FRAMES", MemoryGrow: "MEMORY_GROW", GfnRange: "GFN_RANGE", PageState: "PAGE_STATE", BadAccess: "BAD_ACCESS",
    };
    for (const [name, value] of Object.entries(KernelStatus)) expect([name, abi(`ERR_${names[name]}`)]).toEqual([name, value]);
  });
});
