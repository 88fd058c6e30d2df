import { describe, expect, it } from "vitest";
import { Kernels } from "../src/wasm/kernels.js";

describe("Kernels", () => {
  it("lays out the zero frame after the metadata, 64 KiB aligned", () => {
    const k = new Kernels(1 << 20, 1024);
    expect(k.layout.frameBase % 65536).toBe(0);
    expect(k.layout.frameBase).toBeGreaterThanOrEqual(k.layout.metaBase + 1024 * 16);
    expect(k.heap.byteLength).toBeGreaterThanOrEqual(k.layout.frameBase + 4096);
    expect(k.frames.used).toBe(1);
  });
});
