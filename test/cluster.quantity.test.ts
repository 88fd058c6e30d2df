// Kubernetes quantities read exactly: binary and decimal suffixes, exponents,
// fractions rounded up to whole bytes and millicores as Quantity.Value() and
// MilliValue() do, YAML numbers, and the malformed ones refused with why.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseQuantity, quantityBytes, quantityMilli, type Quantity } from "../src/cluster/quantity.js";

const q = (text: unknown): Quantity => {
  const r = parseQuantity(text);
  if (typeof r === "string") throw new Error(r);
  return r;
};
const bytes = (text: unknown): number | string => quantityBytes(q(text));
const milli = (text: unknown): number | string => quantityMilli(q(text));

describe("quantities", () => {
  it("memory: binary and decimal suffixes, exponents and plain numbers, as hand-computed", () => {
    expect(bytes("512Mi")).toBe(536_870_912);
    expect(bytes("1Gi")).toBe(1_073_741_824);
    expect(bytes("1.5Gi")).toBe(1_610_612_736);
    expect(bytes("128974848")).toBe(128_974_848);
    expect(bytes("129e6")).toBe(129_000_000);
    expect(bytes("129M")).toBe(129_000_000);
    expect(bytes("123Mi")).toBe(128_974_848);
    expect(bytes("1k")).toBe(1000);
    expect(bytes("1Ki")).toBe(1024);
    expect(bytes("2Ti")).toBe(2 * 2 ** 40);
    expect(bytes("1E3")).toBe(1000);
    expect(bytes("1P")).toBe(1e15);
    expect(bytes(".5Ki")).toBe(512);
    expect(bytes("+7")).toBe(7);
  });

  it("fractions round up to a whole byte or millicore", () => {
    expect(bytes("0.1Gi")).toBe(107_374_183); // 107374182.4
    expect(bytes("0.5")).toBe(1);
    expect(bytes("1500m")).toBe(2); // 1.5 bytes
    expect(milli("0.0001")).toBe(1);
    expect(milli("0.1m")).toBe(1);
    expect(milli("1001u")).toBe(2); // 1.001m
  });

  it("CPU: millicores, cores, fractions and exponents", () => {
    expect(milli("500m")).toBe(500);
    expect(milli("1")).toBe(1000);
    expect(milli("1.5")).toBe(1500);
    expect(milli("2e-1")).toBe(200);
    expect(milli("250000u")).toBe(250);
    expect(milli("100000000n")).toBe(100);
  });

  it("YAML numbers are read from their decimal text", () => {
    expect(milli(2)).toBe(2000);
    expect(milli(0.5)).toBe(500);
    expect(bytes(1073741824)).toBe(1_073_741_824);
    expect(bytes(1e9)).toBe(1e9);
  });

  it("refuses what is not a quantity, saying why", () => {
    for (const bad of ["12Qi", "1.2.3", "Mi", "", "1e", "1 Gi", "1gi", "0x10", "--1", "1e+"]) {
      expect(parseQuantity(bad), bad).toMatch(/is not a Kubernetes quantity/);
    }
    expect(parseQuantity(true)).toMatch(/must be a string/);
    expect(parseQuantity(null)).toMatch(/must be a string/);
    expect(parseQuantity(Infinity)).toMatch(/is not a quantity/);
    expect(parseQuantity("1e31")).toMatch(/exponent 31 is out of range/);
    expect(quantityBytes(q("-1Gi"))).toBe("-1Gi is negative");
    expect(quantityBytes(q("9Ei"))).toBe("9Ei is too large");
    expect(quantityMilli(q("9P"))).toBe("9P is too large");
    expect(quantityBytes(q("1E"))).toBe("1E is too large");
  });

  it("n Mi is n × 2^20 bytes and n m is n millicores, for any n (property)", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 }), (n) => {
      expect(bytes(`${n}Mi`)).toBe(n * 2 ** 20);
      expect(milli(`${n}m`)).toBe(n);
      expect(bytes(`${n}k`)).toBe(n * 1000);
    }));
  });

  it("a decimal fraction of Gi rounds up exactly (property, against BigInt arithmetic)", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 9999 }), (whole, frac) => {
      const text = `${whole}.${String(frac).padStart(4, "0")}Gi`;
      const exact = (BigInt(whole) * 10000n + BigInt(frac)) * (1n << 30n);
      const want = Number((exact + 9999n) / 10000n);
      expect(bytes(text)).toBe(want);
    }));
  });
});
