// The versioned header every hypermem file, stream and message starts with,
// as a declarative codec: a format lists its fields once and gets encode,
// decode and the checks, in one order, with one error vocabulary.
// docs/formats.md has the same diagram and the reasons for the rules.
//
//   0        4        6        8             12                            hb-4       hb
//   ┌────────┬────────┬────────┬─────────────┬─────────────────────────────┬──────────┐
//   │ magic  │ u16    │ u16    │ u32         │ the format's fields, little │ u32 crc  │
//   │ 4 ASCII│ major  │ minor  │ headerBytes │ endian, in declared order   │          │
//   └────────┴────────┴────────┴─────────────┴─────────────────────────────┴──────────┘
//   hb = headerBytes: the whole header, crc included (16 .. 65536). It lets a
//        reader find the crc of any version and skip what a newer minor appends.
//   crc = CRC-32 (zlib polynomial, node:zlib crc32) of bytes [0, hb-4).
//
// Bytes 0..12 and "the crc is the last 4 bytes" hold for every version of
// every format, so a reader checks the crc before it trusts the version.
// Version rule (Firecracker's): same major, and a minor up to ours. A field a
// minor adds is appended (sinceMinor); a header of an older minor is shorter
// and decodes with the field's default.
//
// decode() checks, in this order, each failure naming the format, the field,
// its byte offset and the value found against the value expected:
//   1. length >= 16                       (else truncated)         spec.errorCode
//   2. magic                                                       spec.errorCode
//   3. not a format from before this layout (spec.olderLayout)    ERR_FORMAT_VERSION
//   4. headerBytes in 16..65536 and within the bytes given         spec.errorCode
//   5. crc                                                         spec.errorCode
//   6. major equal, minor <= ours                                  ERR_FORMAT_VERSION
//   7. headerBytes equal to the size of that minor's layout        spec.errorCode
//   8. each field's range and validator, in declared order         spec.errorCode
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";

/** magic + major + minor + headerBytes: the part every version shares. */
export const HEADER_FIXED_BYTES = 12;
/** The smallest header: the fixed part and the crc. */
export const MIN_HEADER_BYTES = HEADER_FIXED_BYTES + 4;
/** The largest headerBytes a reader accepts (and so buffers). */
export const MAX_HEADER_BYTES = 64 * 1024;
const RESERVED_NAMES = ["magic", "major", "minor", "headerBytes", "crc"];
const INT_BYTES = { u8: 1, u16: 2, u32: 4, u64: 8 } as const;
const INT_MAX = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, u64: Number.MAX_SAFE_INTEGER } as const;

/** Decoded fields so far, as validators see them. */
export type FieldsSoFar = Readonly<Record<string, number | bigint | Uint8Array>>;

interface FieldCommon {
  /** camelCase; used in messages and as the decoded property. */
  readonly name: string;
  /** The minor that appended this field; older headers decode with `default`. @default 0 */
  readonly sinceMinor?: number;
}
/** An unsigned integer; a u64 decodes to a number, and above 2^53-1 fails validation. */
export interface NumberField extends FieldCommon {
  readonly type: "u8" | "u16" | "u32" | "u64";
  readonly bigint?: false;
  readonly default?: number;
  /** Why `value` is invalid (a sentence naming it), or null when it is valid. */
  readonly validate?: (value: number, fields: FieldsSoFar) => string | null;
}
/** A u64 decoded to a bigint (the whole range). */
export interface BigIntField extends FieldCommon {
  readonly type: "u64";
  readonly bigint: true;
  readonly default?: bigint;
  readonly validate?: (value: bigint, fields: FieldsSoFar) => string | null;
}
/** A fixed number of raw bytes. */
export interface BytesField extends FieldCommon {
  readonly type: "bytes";
  readonly byteLength: number;
  readonly default?: Uint8Array;
  readonly validate?: (value: Uint8Array, fields: FieldsSoFar) => string | null;
}
export type FieldSpec = NumberField | BigIntField | BytesField;

type FieldValue<F> = F extends BytesField ? Uint8Array : F extends BigIntField ? bigint : number;
/** The values of a header's fields, by name. */
export type HeaderValues<Fs extends readonly FieldSpec[]> = { readonly [F in Fs[number] as F["name"]]: FieldValue<F> };
/** What decode() returns: the fields and the version they were written with. */
export type DecodedHeader<V> = V & { readonly major: number; readonly minor: number; readonly headerBytes: number };

export interface HeaderSpec<Fs extends readonly FieldSpec[]> {
  /** The format's name in messages: "trace", "stream", "handshake". */
  readonly name: string;
  /** 4 ASCII bytes. */
  readonly magic: string;
  readonly major: number;
  readonly minor: number;
  readonly fields: Fs;
  /** The code of every failure but a version mismatch (ERR_FORMAT_VERSION). */
  readonly errorCode: ErrorCode;
  /**
   * Recognises a header written before this layout (no headerBytes, no crc)
   * from its first 16 bytes, once the magic matched: returns the version it
   * carries (e.g. "1"), refused with ERR_FORMAT_VERSION, or null.
   */
  readonly olderLayout?: (prefix: DataView) => string | null;
}

export interface DecodeOptions {
  /** Where the bytes came from (a path, a peer), named in messages. */
  readonly source?: string;
}

/** The fixed part of a header, read before the rest is in. */
export interface HeaderPrefix {
  readonly major: number;
  readonly minor: number;
  readonly headerBytes: number;
}

interface ResolvedField {
  readonly spec: FieldSpec;
  readonly offset: number;
  readonly byteLength: number;
  readonly sinceMinor: number;
}

/** The little-endian u32 whose bytes are the 4 ASCII characters of `ascii`. */
export function magicU32(ascii: string): number {
  if (!/^[\x20-\x7e]{4}$/.test(ascii)) {
    throw new HypermemError(ErrorCode.BadOption, `a magic is 4 printable ASCII characters, got ${JSON.stringify(ascii)}`, { value: ascii });
  }
  return (ascii.charCodeAt(0) | (ascii.charCodeAt(1) << 8) | (ascii.charCodeAt(2) << 16) | (ascii.charCodeAt(3) << 24)) >>> 0;
}

/** `"XXXX" (0x58585858)`: how messages show 4 magic bytes read as a little-endian u32. */
export function describeMagic(value: number): string {
  const bytes = [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
  const text = String.fromCharCode(...bytes.map((b) => (b >= 0x20 && b < 0x7f ? b : 0x3f)));
  const hex = bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${JSON.stringify(text)} (0x${hex})`;
}

const hex32 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** A header codec: build one per format with defineHeader(). */
export class HeaderCodec<V> {
  readonly name: string;
  readonly magic: string;
  readonly major: number;
  readonly minor: number;
  /** headerBytes of the headers this codec writes (its minor). */
  readonly byteLength: number;
  readonly errorCode: ErrorCode;
  readonly #magicU32: number;
  readonly #fields: readonly ResolvedField[];
  readonly #olderLayout: ((prefix: DataView) => string | null) | undefined;

  /** Use defineHeader(), which checks the spec. */
  constructor(spec: HeaderSpec<readonly FieldSpec[]>, fields: readonly ResolvedField[]) {
    this.name = spec.name;
    this.magic = spec.magic;
    this.major = spec.major;
    this.minor = spec.minor;
    this.errorCode = spec.errorCode;
    this.#magicU32 = magicU32(spec.magic);
    this.#fields = fields;
    this.#olderLayout = spec.olderLayout;
    this.byteLength = this.#bytesAtMinor(spec.minor);
    Object.freeze(this);
  }

  /** Byte offset of field `name` in a header of this codec's minor. */
  offsetOf(name: string): number {
    const f = this.#fields.find((x) => x.spec.name === name);
    if (!f) throw new HypermemError(ErrorCode.BadOption, `${this.name} header has no field "${name}"`, { format: this.name, field: name });
    return f.offset;
  }

  /** The header for `values`, at this codec's version. Refuses a value a reader would refuse. */
  encode(values: V): Uint8Array {
    const given = values as Record<string, unknown>;
    rejectUnknown(given, this.#fields.map((f) => f.spec.name), `${this.name} header`);
    const out = new Uint8Array(this.byteLength);
    const view = new DataView(out.buffer);
    view.setUint32(0, this.#magicU32, true);
    view.setUint16(4, this.major, true);
    view.setUint16(6, this.minor, true);
    view.setUint32(8, this.byteLength, true);
    const soFar: Record<string, number | bigint | Uint8Array> = {};
    for (const f of this.#fields) {
      const value = given[f.spec.name];
      const why = rangeError(f, value) ?? runValidator(f.spec, value as number, soFar);
      if (why !== null) {
        throw new HypermemError(ErrorCode.BadOption, `cannot encode a ${this.name} header: field ${f.spec.name}: ${why}`,
          { format: this.name, field: f.spec.name, value });
      }
      writeField(view, out, f, value as number | bigint | Uint8Array);
      soFar[f.spec.name] = value as number | bigint | Uint8Array;
    }
    view.setUint32(this.byteLength - 4, crc32(out.subarray(0, this.byteLength - 4)) >>> 0, true);
    return out;
  }

  /** Checks the magic alone (bytes 0..4), as soon as those bytes are in. */
  checkMagic(bytes: Uint8Array, options: DecodeOptions = {}): void {
    if (bytes.byteLength < 4) {
      throw this.#error(options, "length", bytes.byteLength, bytes.byteLength, ">= 4", `is truncated: ${bytes.byteLength} bytes, fewer than the 4 of the magic`);
    }
    const found = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    if (found !== this.#magicU32) {
      throw this.#error(options, "magic", 0, found, this.magic,
        `field magic (offset 0) is ${describeMagic(found)}, expected "${this.magic}"`);
    }
  }

  /**
   * Checks 1 to 4 on the first 16 bytes (not the crc): what an incremental
   * reader needs to know how many bytes the whole header has.
   */
  decodePrefix(bytes: Uint8Array, options: DecodeOptions = {}): HeaderPrefix {
    if (bytes.byteLength < MIN_HEADER_BYTES) {
      throw this.#error(options, "length", bytes.byteLength, bytes.byteLength, `>= ${MIN_HEADER_BYTES}`,
        `is truncated: ${bytes.byteLength} bytes, fewer than the ${MIN_HEADER_BYTES} of the smallest header`);
    }
    this.checkMagic(bytes, options);
    const view = new DataView(bytes.buffer, bytes.byteOffset, MIN_HEADER_BYTES);
    const older = this.#olderLayout?.(view) ?? null;
    if (older !== null) {
      throw this.#versionError(options, older, `version ${older} is an old ${this.name} version, from before hypermem's versioned header, and is not supported`);
    }
    const headerBytes = view.getUint32(8, true);
    if (headerBytes < MIN_HEADER_BYTES || headerBytes > MAX_HEADER_BYTES) {
      throw this.#error(options, "headerBytes", 8, headerBytes, `${MIN_HEADER_BYTES}..${MAX_HEADER_BYTES}`,
        `field headerBytes (offset 8) is ${headerBytes}, outside ${MIN_HEADER_BYTES}..${MAX_HEADER_BYTES}`);
    }
    return { major: view.getUint16(4, true), minor: view.getUint16(6, true), headerBytes };
  }

  /** Checks and decodes a header at the start of `bytes` (which may run on past it). */
  decode(bytes: Uint8Array, options: DecodeOptions = {}): DecodedHeader<V> {
    const { major, minor, headerBytes } = this.decodePrefix(bytes, options);
    if (headerBytes > bytes.byteLength) {
      throw this.#error(options, "headerBytes", 8, headerBytes, `<= ${bytes.byteLength}`,
        `is truncated: field headerBytes (offset 8) is ${headerBytes}, but only ${bytes.byteLength} bytes are there`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
    const stored = view.getUint32(headerBytes - 4, true);
    const actual = crc32(bytes.subarray(0, headerBytes - 4)) >>> 0;
    if (stored !== actual) {
      throw this.#error(options, "crc", headerBytes - 4, stored, actual,
        `field crc (offset ${headerBytes - 4}) is ${hex32(stored)}, the crc32 of bytes 0..${headerBytes - 5} is ${hex32(actual)}`);
    }
    if (major !== this.major || minor > this.minor) {
      throw this.#versionError(options, `${major}.${minor}`, `version ${major}.${minor} is not supported`);
    }
    const expected = this.#bytesAtMinor(minor);
    if (headerBytes !== expected) {
      throw this.#error(options, "headerBytes", 8, headerBytes, expected,
        `field headerBytes (offset 8) is ${headerBytes}, expected ${expected} for version ${major}.${minor}`);
    }
    const values: Record<string, number | bigint | Uint8Array> = {};
    for (const f of this.#fields) {
      values[f.spec.name] = f.sinceMinor > minor ? f.spec.default! : this.#readChecked(view, bytes, f, values, options);
    }
    return Object.freeze({ ...values, major, minor, headerBytes }) as DecodedHeader<V>;
  }

  #readChecked(view: DataView, bytes: Uint8Array, f: ResolvedField, soFar: FieldsSoFar, options: DecodeOptions): number | bigint | Uint8Array {
    const s = f.spec;
    let value: number | bigint | Uint8Array;
    if (s.type === "bytes") value = new Uint8Array(bytes.subarray(f.offset, f.offset + f.byteLength));
    else if (s.type !== "u64") value = s.type === "u8" ? view.getUint8(f.offset) : s.type === "u16" ? view.getUint16(f.offset, true) : view.getUint32(f.offset, true);
    else {
      const big = view.getBigUint64(f.offset, true);
      if (!s.bigint && big > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw this.#error(options, s.name, f.offset, big, "<= 2^53-1",
          `field ${s.name} (offset ${f.offset}): ${big} is above 2^53-1, the largest integer this reader holds exactly`);
      }
      value = s.bigint ? big : Number(big);
    }
    const why = runValidator(s, value as number, soFar);
    if (why !== null) throw this.#error(options, s.name, f.offset, value, undefined, `field ${s.name} (offset ${f.offset}): ${why}`);
    return value;
  }

  #bytesAtMinor(minor: number): number {
    let bytes = HEADER_FIXED_BYTES + 4;
    for (const f of this.#fields) if (f.sinceMinor <= minor) bytes += f.byteLength;
    return bytes;
  }

  #where(options: DecodeOptions): string {
    return options.source === undefined ? `${this.name} header` : `${this.name} ${options.source}: header`;
  }

  #error(options: DecodeOptions, field: string, offset: number, value: unknown, expected: unknown, what: string): HypermemError {
    const details: Record<string, unknown> = { format: this.name, field, offset, value };
    if (expected !== undefined) details.expected = expected;
    if (options.source !== undefined) details.source = options.source;
    return new HypermemError(this.errorCode, `${this.#where(options)} ${what}`, details);
  }

  #versionError(options: DecodeOptions, found: string, what: string): HypermemError {
    const supported = `${this.major}.${this.minor}`;
    return new HypermemError(ErrorCode.FormatVersion,
      `${this.#where(options)} ${what} (this hypermem reads ${this.major}.0 up to minor ${this.minor})`,
      { format: this.name, found, supported, ...(options.source === undefined ? {} : { source: options.source }) });
  }
}

/** Why `value` does not fit field `f`'s type, or null. */
function rangeError(f: ResolvedField, value: unknown): string | null {
  const s = f.spec;
  if (s.type === "bytes") {
    return value instanceof Uint8Array && value.byteLength === f.byteLength ? null : `expected ${f.byteLength} bytes, got ${describe(value)}`;
  }
  if (s.type === "u64" && s.bigint) {
    return typeof value === "bigint" && value >= 0n && value < 1n << 64n ? null : `expected a bigint in 0..2^64-1, got ${describe(value)}`;
  }
  const max = INT_MAX[s.type];
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max ? null : `expected an integer in 0..${max}, got ${describe(value)}`;
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return typeof value === "bigint" ? `${value}n` : String(value);
}

function runValidator(s: FieldSpec, value: number | bigint | Uint8Array, soFar: FieldsSoFar): string | null {
  if (!s.validate) return null;
  return (s.validate as (v: typeof value, f: FieldsSoFar) => string | null)(value, soFar);
}

function writeField(view: DataView, out: Uint8Array, f: ResolvedField, value: number | bigint | Uint8Array): void {
  switch (f.spec.type) {
    case "u8": view.setUint8(f.offset, value as number); break;
    case "u16": view.setUint16(f.offset, value as number, true); break;
    case "u32": view.setUint32(f.offset, value as number, true); break;
    case "u64": view.setBigUint64(f.offset, BigInt(value as number | bigint), true); break;
    case "bytes": out.set(value as Uint8Array, f.offset); break;
  }
}

const SPEC_KEYS = ["name", "magic", "major", "minor", "fields", "errorCode", "olderLayout"];
const FIELD_KEYS = ["name", "type", "bigint", "byteLength", "sinceMinor", "default", "validate"];

function specError(spec: { name?: unknown }, what: string): HypermemError {
  return new HypermemError(ErrorCode.BadOption, `defineHeader(${String(spec.name)}): ${what}`, { format: spec.name });
}

/**
 * A codec for one format's header. The spec is checked once: 4-character
 * magic, versions in 0..65535, unique field names that do not shadow the
 * fixed ones, fields appended in sinceMinor order (each later one with a
 * default), and at most MAX_HEADER_BYTES in all.
 */
export function defineHeader<const Fs extends readonly FieldSpec[]>(spec: HeaderSpec<Fs>): HeaderCodec<HeaderValues<Fs>> {
  rejectUnknown(spec, SPEC_KEYS, "defineHeader");
  magicU32(spec.magic);
  for (const key of ["major", "minor"] as const) {
    const v = spec[key];
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw specError(spec, `${key} must be an integer in 0..65535, got ${v}`);
  }
  if (!Object.values(ErrorCode).includes(spec.errorCode)) throw specError(spec, `unknown errorCode ${String(spec.errorCode)}`);
  const fields: ResolvedField[] = [];
  let offset = HEADER_FIXED_BYTES;
  let lastMinor = 0;
  for (const f of spec.fields) {
    rejectUnknown(f, FIELD_KEYS, `defineHeader(${spec.name}) field ${f.name}`);
    if (RESERVED_NAMES.includes(f.name) || fields.some((x) => x.spec.name === f.name)) throw specError(spec, `field name "${f.name}" is reserved or repeated`);
    const byteLength = f.type === "bytes" ? f.byteLength : INT_BYTES[f.type];
    if (!Number.isInteger(byteLength) || byteLength < 1) throw specError(spec, `field ${f.name}: byteLength must be a positive integer, got ${byteLength}`);
    const sinceMinor = f.sinceMinor ?? 0;
    if (!Number.isInteger(sinceMinor) || sinceMinor < lastMinor || sinceMinor > spec.minor) {
      throw specError(spec, `field ${f.name}: sinceMinor ${sinceMinor} must be in ${lastMinor}..${spec.minor} (fields are appended by later minors)`);
    }
    const field = { spec: f, offset, byteLength, sinceMinor };
    if (sinceMinor > 0 && f.default === undefined) throw specError(spec, `field ${f.name}: a field added by minor ${sinceMinor} needs a default for older headers`);
    const badDefault = f.default === undefined ? null : rangeError(field, f.default);
    if (badDefault !== null) throw specError(spec, `field ${f.name}: default: ${badDefault}`);
    fields.push(field);
    offset += byteLength;
    lastMinor = sinceMinor;
  }
  if (offset + 4 > MAX_HEADER_BYTES) throw specError(spec, `${offset + 4} header bytes exceed ${MAX_HEADER_BYTES}`);
  return new HeaderCodec<HeaderValues<Fs>>(spec, Object.freeze(fields));
}
