// Kubernetes resource quantities ("512Mi", "1Gi", "500m", "0.5", "2e3"),
// read exactly, as apimachinery's resource.Quantity reads them:
//
//   quantity  ::= sign? number suffix?
//   number    ::= digits | digits "." digits? | "." digits
//   suffix    ::= Ki | Mi | Gi | Ti | Pi | Ei          binary: 2^10 .. 2^60
//               | n | u | m | k | M | G | T | P | E   decimal: 10^-9 .. 10^18
//               | (e | E) sign? digits                decimal exponent
//
// The value is kept as an exact fraction (BigInt numerator / denominator),
// then rounded UP to whole units as Quantity.Value() (bytes) and
// Quantity.MilliValue() (millicores) do: "0.1Gi" is 107374183 bytes, "0.0001"
// CPUs is 1m. A YAML number (cpu: 2, memory: 1e9) is read from its decimal text.

/** A quantity as an exact fraction: value = numerator / denominator (denominator > 0). */
export interface Quantity {
  readonly text: string;
  readonly numerator: bigint;
  readonly denominator: bigint;
}

const BINARY: Readonly<Record<string, bigint>> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
/** Decimal SI suffixes as powers of ten. */
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const SYNTAX = /^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)$/;
/** Exponents beyond this are refused rather than turned into huge BigInts. */
const MAX_EXPONENT = 30;

/** Reads `text` (or a YAML number); returns the quantity, or why it is not one. */
export function parseQuantity(value: unknown): Quantity | string {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return `${value} is not a quantity`;
    return parseQuantity(String(value));
  }
  if (typeof value !== "string") return `a quantity must be a string such as "512Mi" or "500m", got ${JSON.stringify(value) ?? String(value)}`;
  const m = SYNTAX.exec(value);
  if (m === null) return `${JSON.stringify(value)} is not a Kubernetes quantity (such as 512Mi, 1Gi, 500m, 0.5 or 2e3)`;
  const [, sign, digits, suffix] = m;
  const [whole, fraction = ""] = digits.split(".");
  let numerator = BigInt(`${whole || "0"}${fraction}`);
  let denominator = 10n ** BigInt(fraction.length);
  let exponent = 0;
  if (suffix in BINARY) numerator *= BINARY[suffix];
  else if (suffix.length > 1) exponent = Number(suffix.slice(1));
  else exponent = DECIMAL[suffix];
  if (Math.abs(exponent) > MAX_EXPONENT) return `${JSON.stringify(value)}: exponent ${exponent} is out of range (at most ±${MAX_EXPONENT})`;
  if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
  else denominator *= 10n ** BigInt(-exponent);
  if (sign === "-") numerator = -numerator;
  return Object.freeze({ text: value, numerator, denominator });
}

/** The quantity in units of 1/`perUnit`, rounded up (`perUnit` 1: bytes; 1000: millicores); or why not. */
function roundedUp(q: Quantity, perUnit: bigint): number | string {
  if (q.numerator < 0n) return `${q.text} is negative`;
  const scaled = q.numerator * perUnit;
  const units = (scaled + q.denominator - 1n) / q.denominator;
  if (units > BigInt(Number.MAX_SAFE_INTEGER)) return `${q.text} is too large`;
  return Number(units);
}

/** Bytes (Quantity.Value(): rounded up to a whole byte), or why not. */
export function quantityBytes(q: Quantity): number | string {
  return roundedUp(q, 1n);
}

/** Millicores (Quantity.MilliValue(): rounded up to a whole millicore), or why not. */
export function quantityMilli(q: Quantity): number | string {
  return roundedUp(q, 1000n);
}
