// Fault chains (src/host/faults.ts, vm.ts, mmu.ts): what this file proves.
// - A VM's handlers run before the host's; "pass" hands a fault on (VM
//   newer -> older, then host newer -> older, then the host defaults that
//   populate a first touch and copy a shared frame on write); any other
//   answer stops the chain.
// - onFault returns a disposer that removes exactly that handler, once.
// - A handler on one VM never sees another VM's faults.
// - A handler answering anything but retry/skip/pass is a typed error; a
//   fault nobody takes is ERR_UNHANDLED_FAULT naming the VM, gpa and reason;
//   a "retry" that leaves the access faulting is ERR_FAULT_LOOP, not a hang.
// - The Fault record: by "guest", the access index, gpa, pfn, direction.
// - Re-entrancy: a handler that runs its own guest batches (vm.run) and
//   hypervisor reads (vm.read) in the middle of an outer batch, up to three
//   levels deep, leaves every batch's accesses intact (page contents equal
//   the GuestModel oracle's, counters exact).
import { describe, expect, it } from "vitest";
import { createHost, FAULT_NAMES, FaultReason, type Access, type Fault, type FaultAction, type FaultHandler, type Vm } from "../src/index.js";
import { GuestModel, patternBytes } from "./reference/mmu.js";

const PAGE = 4096;

const err = (code: string, ...parts: string[]) =>
  expect.objectContaining({ code, message: expect.stringMatching(new RegExp(parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*"))) });

/** A handler that logs `name:reason` and passes. */
const passer = (log: string[], name: string): FaultHandler => (f) => {
  log.push(`${name}:${FAULT_NAMES[f.reason]}`);
  return "pass";
};

/** Fault counters with every reason at 0 except those given. */
const faultCounts = (nonZero: Record<string, number>): Record<string, number> =>
  ({ ...Object.fromEntries(Object.values(FAULT_NAMES).map((n) => [n, 0])), ...nonZero });

describe("chains", () => {
  it("'pass' goes VM newer -> older, then host newer -> older, then the host defaults (populate, cow)", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    const log: string[] = [];
    for (const reason of [FaultReason.NotPresent, FaultReason.Cow]) {
      vm.onFault(reason, passer(log, "vm-old"));
      vm.onFault(reason, passer(log, "vm-new"));
      host.onFault(reason, passer(log, "host-old"));
      host.onFault(reason, passer(log, "host-new"));
    }
    vm.run([{ op: "read", gpa: 2 * PAGE }, { op: "write", gpa: 2 * PAGE + 16, seed: 9 }]);
    const chain = ["vm-new", "vm-old", "host-new", "host-old"];
    expect(log).toEqual([...chain.map((n) => `${n}:not-present`), ...chain.map((n) => `${n}:cow`)]);
    expect(vm.states.of(2).kind).toBe("present");
    expect([...vm.read(2 * PAGE + 16, 8)]).toEqual([...patternBytes(2 * PAGE + 16, 9, 8)]);
    expect(vm.counters.faults).toEqual(faultCounts({ "not-present": 1, cow: 1 }));
  });

  it("a VM handler that resolves the fault stops the chain: the host's handlers never see it", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    vm.write(0, new Uint8Array(2 * PAGE).fill(1));
    vm.states.trace(0);
    vm.states.trace(1);
    const log: string[] = [];
    host.onFault(FaultReason.Traced, passer(log, "host"));
    vm.onFault(FaultReason.Traced, (f) => {
      log.push(`vm:${f.pfn}`);
      if (f.pfn === 1) return "skip";
      vm.states.untrace(f.pfn);
      return "retry";
    });
    vm.run([{ op: "write", gpa: 0, seed: 1 }, { op: "write", gpa: PAGE, seed: 2 }, { op: "read", gpa: 8 }]);
    expect(log).toEqual(["vm:0", "vm:1"]);
    expect([...vm.read(0, 8)]).toEqual([...patternBytes(0, 1, 8)]);
    expect([...vm.read(PAGE, 8)]).toEqual(Array(8).fill(1));
    expect(vm.counters).toMatchObject({ accesses: 2, skipped: 1, writes: 1 });
    expect(vm.counters.faults).toEqual(faultCounts({ traced: 2 }));
  });

  it("the disposer removes exactly that handler, and is idempotent", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    const log: string[] = [];
    const same = passer(log, "same");
    vm.onFault(FaultReason.NotPresent, passer(log, "first"));
    const disposeSame1 = vm.onFault(FaultReason.NotPresent, same);
    vm.onFault(FaultReason.NotPresent, same);
    const disposeLast = vm.onFault(FaultReason.NotPresent, passer(log, "last"));
    const disposeHost = host.onFault(FaultReason.NotPresent, passer(log, "host"));
    vm.run([{ op: "read", gpa: 0 }]);
    expect(log).toEqual(["last:not-present", "same:not-present", "same:not-present", "first:not-present", "host:not-present"]);
    log.length = 0;
    disposeSame1();
    disposeSame1();
    disposeLast();
    disposeHost();
    disposeHost();
    vm.run([{ op: "read", gpa: PAGE }]);
    expect(log).toEqual(["same:not-present", "first:not-present"]);
    expect(vm.states.of(1).kind).toBe("zero-mapped");
  });

  it("a handler on VM A never sees VM B's faults", () => {
    const host = createHost({ memoryMiB: 8 });
    const a = host.createVm({ pages: 16 });
    const b = host.createVm({ pages: 16 });
    const seen: Fault[] = [];
    a.onFault(FaultReason.NotPresent, (f) => { seen.push(f); return "pass"; });
    b.run([{ op: "write", gpa: 0 }, { op: "write", gpa: 3 * PAGE }]);
    expect(seen).toEqual([]);
    expect(b.counters.faults["not-present"]).toBe(2);
    a.run([{ op: "write", gpa: 5 * PAGE }]);
    expect(seen.map((f) => [f.vm, f.pfn])).toEqual([[a, 5]]);
  });
});

describe("typed errors", () => {
  it.each([["retried", "\"retried\""], [undefined, "undefined"], [0, "0"], [null, "null"]])(
    "a handler answering %s is ERR_BAD_OPTION naming the answer",
    (answer, shown) => {
      const host = createHost({ memoryMiB: 8 });
      const vm = host.createVm({ pages: 16 });
      vm.onFault(FaultReason.NotPresent, () => answer as unknown as FaultAction);
      expect(() => vm.run([{ op: "write", gpa: 0 }])).toThrow(err("ERR_BAD_OPTION", "not-present", `returned ${shown}`));
      expect(vm.states.of(0).kind).toBe("unpopulated");
    },
  );

  it("registering for no reason, BadAccess, or a non-function is ERR_BAD_OPTION", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    expect(() => vm.onFault(0 as FaultReason, () => "pass")).toThrow(err("ERR_BAD_OPTION", "reason 0"));
    expect(() => vm.onFault(42 as FaultReason, () => "pass")).toThrow(err("ERR_BAD_OPTION", "reason 42"));
    expect(() => host.onFault(FaultReason.BadAccess, () => "pass")).toThrow(err("ERR_BAD_OPTION", "reason 8"));
    expect(() => vm.onFault(FaultReason.Traced, "retry" as unknown as FaultHandler)).toThrow(err("ERR_BAD_OPTION", "traced", "string"));
  });

  it("a fault nobody takes is ERR_UNHANDLED_FAULT naming the VM, gpa and reason", () => {
    const host = createHost({ memoryMiB: 8 });
    host.createVm({ pages: 4 });
    const vm = host.createVm({ pages: 16 });
    vm.write(0, new Uint8Array(4 * PAGE).fill(3));
    vm.states.trace(3);
    const log: string[] = [];
    vm.onFault(FaultReason.Traced, passer(log, "vm"));
    host.onFault(FaultReason.Traced, passer(log, "host"));
    let caught: unknown;
    try {
      vm.run([{ op: "read", gpa: 3 * PAGE + 0x40 }]);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: "ERR_UNHANDLED_FAULT", details: { reason: "traced", gpa: 0x3040, by: "guest" } });
    expect((caught as Error).message).toMatch(new RegExp(`^vm ${vm.id}: .*traced.*0x3040.*guest read`));
    expect(log).toEqual(["vm:traced", "host:traced"]);
    const wp = vm.harvestDirty();
    expect(vm.writeProtect(wp)).toBe(4);
    expect(() => vm.run([{ op: "write", gpa: PAGE + 8 }])).toThrow(err("ERR_UNHANDLED_FAULT", `vm ${vm.id}`, "write-protect", "0x1008", "guest write"));
  });

  it("a 'retry' that leaves the access faulting is ERR_FAULT_LOOP after one call, not a hang", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    vm.write(0, new Uint8Array(PAGE * 8));
    vm.states.trace(6);
    let calls = 0;
    vm.onFault(FaultReason.Traced, () => { calls++; return "retry"; });
    expect(() => vm.run([{ op: "read", gpa: 0 }, { op: "write", gpa: 6 * PAGE + 0x80 }])).toThrow(err("ERR_FAULT_LOOP", `vm ${vm.id}`, "traced", "access 1", "0x6080"));
    expect(calls).toBe(1);
    expect(host.kernels.scratch.depth).toBe(0);
  });

  it("the Fault record says by 'guest', the access index, gpa, pfn and direction", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    vm.write(5 * PAGE, new Uint8Array(PAGE));
    vm.states.trace(5);
    const seen: Omit<Fault, "vm">[] = [];
    const record: FaultHandler = ({ vm: from, ...rest }) => {
      expect(from).toBe(vm);
      seen.push(rest);
      return "pass";
    };
    for (const reason of [FaultReason.NotPresent, FaultReason.Cow]) vm.onFault(reason, record);
    vm.onFault(FaultReason.Traced, (f) => {
      record(f);
      vm.states.untrace(f.pfn);
      return "retry";
    });
    vm.run([
      { op: "write", gpa: PAGE + 0x10 },
      { op: "read", gpa: 2 * PAGE + 0x20 },
      { op: "write", gpa: 2 * PAGE + 0x28 },
      { op: "read", gpa: 5 * PAGE + 0x30 },
    ]);
    const guest = (reason: FaultReason, index: number, gpa: number, write: boolean) =>
      ({ reason, index, gpa, pfn: Math.floor(gpa / PAGE), write, by: "guest" });
    expect(seen).toEqual([
      guest(FaultReason.NotPresent, 0, 0x1010, true),
      guest(FaultReason.NotPresent, 1, 0x2020, false),
      guest(FaultReason.Cow, 2, 0x2028, true),
      guest(FaultReason.Traced, 3, 0x5030, false),
    ]);
  });
});

describe("re-entrancy", () => {
  /** Runs `accesses` on `vm` and applies them to `model` (the model takes the writes in the order given). */
  const runBoth = (vm: Vm, model: GuestModel, accesses: Access[]): void => {
    vm.run(accesses);
    for (const a of accesses) model.apply({ op: a.op, gpa: a.gpa, length: a.length ?? 8, seed: a.seed ?? 0 });
  };

  /** A guest of 16 pages with page 0 holding known bytes and `traced` pages present and traced; its model. */
  const setup = (traced: number[]): { vm: Vm; model: GuestModel; page0: Uint8Array } => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    const model = new GuestModel(16);
    const page0 = Uint8Array.from({ length: PAGE }, (_, i) => (i * 7 + 3) & 0xff);
    vm.write(0, page0);
    model.pages.set(0, page0.slice());
    for (const pfn of traced) {
      vm.write(pfn * PAGE, new Uint8Array(PAGE));
      model.pages.set(pfn, new Uint8Array(PAGE));
      vm.states.trace(pfn);
    }
    return { vm, model, page0 };
  };

  const expectMemory = (vm: Vm, model: GuestModel): void => {
    const got = vm.read(0, vm.memoryBytes);
    const want = model.read(0, vm.memoryBytes);
    const at = got.findIndex((b, i) => b !== want[i]);
    expect(at, `first differing byte at gpa 0x${at.toString(16)}`).toBe(-1);
  };

  it("a traced page's handler runs guest accesses and hypervisor reads without corrupting the outer batch", () => {
    const { vm, model, page0 } = setup([5]);
    const depths: number[] = [];
    vm.onFault(FaultReason.Traced, (f) => {
      const k = vm.host.kernels;
      depths.push(k.scratch.depth);
      runBoth(vm, model, [
        { op: "write", gpa: 7 * PAGE, length: 1024, seed: 77 },
        { op: "read", gpa: 0, length: 128 },
        { op: "write", gpa: 8 * PAGE + 512, length: 64, seed: 88 },
      ]);
      expect(Buffer.compare(vm.read(0, PAGE), page0)).toBe(0);
      expect(Buffer.compare(vm.read(7 * PAGE, 1024), patternBytes(7 * PAGE, 77, 1024))).toBe(0);
      vm.states.untrace(f.pfn);
      return "retry";
    });
    const outer: Access[] = [
      { op: "read", gpa: 0, length: 64 },
      { op: "write", gpa: 5 * PAGE + 128, length: 256, seed: 55 },
      { op: "read", gpa: 64, length: 64 },
      { op: "write", gpa: 3 * PAGE + 8, length: 512, seed: 33 },
    ];
    runBoth(vm, model, outer);
    expect(depths).toEqual([1]);
    expect(Buffer.compare(vm.read(0, PAGE), page0)).toBe(0);
    expect(Buffer.compare(vm.read(5 * PAGE + 128, 256), patternBytes(5 * PAGE + 128, 55, 256))).toBe(0);
    expect(Buffer.compare(vm.read(3 * PAGE + 8, 512), patternBytes(3 * PAGE + 8, 33, 512))).toBe(0);
    expectMemory(vm, model);
    expect(vm.counters).toEqual({ accesses: 7, writes: 4, skipped: 0, faults: faultCounts({ traced: 1, "not-present": 3 }) });
    expect(vm.host.kernels.scratch.depth).toBe(0);
  });

  it("nests three levels deep: each level's batch and the outer one stay intact", () => {
    const { vm, model, page0 } = setup([5, 6, 9]);
    const depths: Record<number, number> = {};
    const nested: Record<number, Access[]> = {
      5: [{ op: "write", gpa: 10 * PAGE, length: 128, seed: 100 }, { op: "read", gpa: 6 * PAGE }, { op: "write", gpa: 11 * PAGE + 8, length: 8, seed: 110 }],
      6: [{ op: "write", gpa: 12 * PAGE + 64, length: 64, seed: 120 }, { op: "write", gpa: 9 * PAGE + 256, length: 2048, seed: 99 }, { op: "read", gpa: 0, length: 4096 }],
      9: [{ op: "write", gpa: 13 * PAGE, length: 4096, seed: 130 }, { op: "read", gpa: 10 * PAGE, length: 128 }],
    };
    vm.onFault(FaultReason.Traced, (f) => {
      depths[f.pfn] = vm.host.kernels.scratch.depth;
      runBoth(vm, model, nested[f.pfn]);
      expect(Buffer.compare(vm.read(0, PAGE), page0)).toBe(0);
      vm.states.untrace(f.pfn);
      return "retry";
    });
    runBoth(vm, model, [
      { op: "read", gpa: 0, length: 64 },
      { op: "write", gpa: 5 * PAGE + 128, length: 256, seed: 55 },
      { op: "read", gpa: 64, length: 64 },
      { op: "write", gpa: 3 * PAGE + 8, length: 512, seed: 33 },
    ]);
    expect(depths).toEqual({ 5: 1, 6: 2, 9: 3 });
    expect(Buffer.compare(vm.read(0, PAGE), page0)).toBe(0);
    expectMemory(vm, model);
    // 4 outer + 3 + 3 + 2 nested; writes: 2 + 2 + 2 + 1; first touches: pages 3, 10, 11, 12, 13.
    expect(vm.counters).toEqual({ accesses: 12, writes: 7, skipped: 0, faults: faultCounts({ traced: 3, "not-present": 5 }) });
    expect(vm.counters.faults.traced).toBe(3);
    expect([5, 6, 9].map((pfn) => vm.states.of(pfn).kind)).toEqual(["present", "present", "present"]);
    expect(vm.host.kernels.scratch.depth).toBe(0);
  });
});

// Behaviour a mutation run of src/host found untested (docs/contributing.md, "Mutation scores").
describe("typed errors' details", () => {
  const details = (fn: () => unknown): unknown => {
    try { fn(); } catch (err) { const e = err as { code: string; details: unknown }; return { code: e.code, details: e.details }; }
    return "none";
  };

  it("registration and handler answers name the reason; bad accesses and fault loops name the access and gpa", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    expect(details(() => vm.onFault(42 as FaultReason, () => "pass"))).toEqual({ code: "ERR_BAD_OPTION", details: { reason: 42 } });
    expect(details(() => vm.onFault(FaultReason.Traced, 7 as unknown as FaultHandler))).toEqual({ code: "ERR_BAD_OPTION", details: { reason: "traced" } });
    const dispose = vm.onFault(FaultReason.NotPresent, () => "again" as FaultAction);
    expect(details(() => vm.run([{ op: "read", gpa: 0 }]))).toEqual({ code: "ERR_BAD_OPTION", details: { reason: "not-present" } });
    dispose();
    expect(details(() => vm.run([{ op: "read", gpa: 0 }, { op: "read", gpa: 16 * PAGE, length: 8 }]))).toEqual({
      code: "ERR_BAD_ACCESS", details: { index: 1, gpa: 16 * PAGE, length: 8 },
    });
    vm.write(PAGE, Uint8Array.of(1));
    vm.states.trace(1);
    vm.onFault(FaultReason.Traced, () => "retry");
    expect(details(() => vm.run([{ op: "write", gpa: PAGE + 0x40 }]))).toEqual({
      code: "ERR_FAULT_LOOP", details: { index: 0, gpa: PAGE + 0x40, reason: "traced" },
    });
  });
});
