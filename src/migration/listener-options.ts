// The options of a migration listener (src/migration/listener.ts), with
// their defaults, resolved once into a frozen object; unknown keys and bad
// values are refused with a typed error naming them. The scheduling numbers:
//
//   handshakes at once      maxHandshakes = 16; a 17th connection replaces the
//                           oldest handshake in progress (refused ERR_BUSY)
//   handshake deadline      handshakeTimeoutMs = 3 s, connect to ACCEPT
//   migrations at once      1, taken only by an authenticated source
//   progress rule           at least minRateBytesPerSec = 100 KiB/s over every
//                           progressWindowMs = 10 s window of the transfer
//   idle timeout            idleTimeoutMs = 10 s without any byte, any phase
//   host memory released    releaseHostAfterMs = 2 s after the last guest went
import { ErrorCode, HypermemError } from "../errors.js";
import { MAX_HOST_MIB, type Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import type { SecureChannel } from "../net/secure-channel.js";
import { checkToken } from "../net/token.js";
import { DEFAULT_IDLE_TIMEOUT_MS } from "../net/tcp-channel.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { ReceiverLimits } from "../stream/receiver.js";

export interface ListenerOptions {
  /** TCP port; 0 picks a free one (see `address` after listen). */
  port: number;
  /** Address to bind. @default "127.0.0.1" */
  bindAddress?: string;
  /** The shared secret: 16 to 4096 bytes (see loadToken). */
  token: Uint8Array;
  /** Require encrypted records (AES-256-GCM); false requires integrity only (GMAC), and sources must agree. @default true */
  encryption?: boolean;
  /** Host memory of the destination host, MiB (ignored when `host` is given). @default 4096 */
  hostMiB?: number;
  /** Receive into this host instead of one of the listener's own (then never released: the caller owns it). */
  host?: Host;
  /** Close a connection idle for this long (no byte either way), ms. @default 10_000 */
  idleTimeoutMs?: number;
  /** Handshakes in progress at once; one more replaces the oldest. @default 16 */
  maxHandshakes?: number;
  /** A handshake not done this long after the connection arrived is cut, ms. @default 3000 */
  handshakeTimeoutMs?: number;
  /** The progress rule: an authenticated source sending less than this, on average over a window, is cut; 0 turns the rule off. @default 102_400 (100 KiB/s) */
  minRateBytesPerSec?: number;
  /** The progress rule's window, ms. @default 10_000 */
  progressWindowMs?: number;
  /**
   * After the last guest left the listener's own host (destroyed, or a
   * failed migration discarded) and this long without a new migration, the
   * host is replaced by a fresh one and its memory given back to the OS;
   * null keeps it for the next migration. @default 2000
   */
  releaseHostAfterMs?: number | null;
  /** Limits on what a stream may ask for. */
  receiverLimits?: ReceiverLimits;
  /** Called once per connection with its outcome. */
  onReport?: (report: ListenerReport) => void;
  /**
   * Called with each verified guest before it is destroyed (to free the host
   * for the next migration). Return true to keep it running instead.
   */
  onGuest?: (vm: Vm, report: ListenerReport) => boolean;
  /**
   * Other stream kinds served on the same port, after the same handshake:
   * a stream whose first 4 bytes are one of these magics (e.g. "HMPS", a
   * checkpoint protection stream) is handed to its handler, which serves
   * the connection to its end, instead of being received as a migration.
   * The connection holds the migration slot meanwhile; the progress rule
   * does not apply (the handler keeps its own).
   */
  streams?: Readonly<Record<string, StreamHandler>>;
}

/** Serves one authenticated connection of another stream kind: `first` is the start of its first record (at least 4 bytes). */
export type StreamHandler = (connection: { channel: SecureChannel; first: Uint8Array; host: Host; peer: string }) => Promise<void>;

export type ListenerReport =
  | { event: "received"; peer: string; guestBytes: number; streamBytes: number; chunks: number; wallMs: number; mibPerSec: number; kept: boolean }
  | { event: "refused"; peer: string; error: { code: string; message: string } }
  | { event: "failed"; peer: string; streamBytes: number; wallMs: number; error: { code: string; message: string } }
  /** The source gave up and said so (ERR_MIGRATION_CANCELLED in an authenticated ERROR record): the partial guest is discarded. */
  | { event: "cancelled"; peer: string; streamBytes: number; wallMs: number; reason: string };

export type ResolvedListenerOptions = Readonly<Required<Omit<ListenerOptions, "host" | "receiverLimits" | "onReport" | "onGuest" | "streams">>> & {
  readonly streams: Readonly<Record<string, StreamHandler>>;
  readonly host: Host | null;
  readonly receiverLimits: ReceiverLimits;
  readonly onReport: ((report: ListenerReport) => void) | null;
  readonly onGuest: ((vm: Vm, report: ListenerReport) => boolean) | null;
};

export const LISTENER_DEFAULTS = Object.freeze({
  bindAddress: "127.0.0.1",
  encryption: true,
  hostMiB: 4096,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  maxHandshakes: 16,
  handshakeTimeoutMs: 3000,
  minRateBytesPerSec: 100 * 1024,
  progressWindowMs: 10_000,
  releaseHostAfterMs: 2000,
});

const KNOWN = [
  "port", "bindAddress", "token", "encryption", "hostMiB", "host", "idleTimeoutMs", "maxHandshakes", "handshakeTimeoutMs",
  "minRateBytesPerSec", "progressWindowMs", "releaseHostAfterMs", "receiverLimits", "onReport", "onGuest", "streams",
];
const DAY_MS = 86_400_000;

function optionalFunction<T>(name: string, value: T | undefined): T | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "function") throw new HypermemError(ErrorCode.BadOption, `${name} must be a function, got ${typeof value}`, { option: name });
  return value;
}

function resolveStreams(streams: ListenerOptions["streams"]): Readonly<Record<string, StreamHandler>> {
  if (streams === undefined) return Object.freeze({});
  if (typeof streams !== "object" || streams === null) throw new HypermemError(ErrorCode.BadOption, `streams must be an object of handlers by magic, got ${String(streams)}`, { option: "streams" });
  for (const [magic, handler] of Object.entries(streams)) {
    if (!/^[\x20-\x7e]{4}$/.test(magic) || magic === "HMMS") throw new HypermemError(ErrorCode.BadOption, `streams: ${JSON.stringify(magic)} is not a 4-character magic other than the migration stream's "HMMS"`, { option: "streams", value: magic });
    optionalFunction(`streams.${magic}`, handler);
  }
  return Object.freeze({ ...streams });
}

/** Checks `o` and fills in the defaults. */
export function resolveListenerOptions(o: ListenerOptions): ResolvedListenerOptions {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `listener options must be an object such as { port, token }, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, KNOWN, "listenForMigrations");
  const encryption = o.encryption ?? LISTENER_DEFAULTS.encryption;
  if (typeof encryption !== "boolean") throw new HypermemError(ErrorCode.BadOption, `encryption must be true or false, got ${String(encryption)}`, { option: "encryption" });
  const bindAddress = o.bindAddress ?? LISTENER_DEFAULTS.bindAddress;
  if (typeof bindAddress !== "string" || bindAddress === "") throw new HypermemError(ErrorCode.BadOption, `bindAddress must be an address, got ${String(bindAddress)}`, { option: "bindAddress" });
  const release = o.releaseHostAfterMs === undefined ? LISTENER_DEFAULTS.releaseHostAfterMs : o.releaseHostAfterMs;
  return Object.freeze({
    port: requireInt("port", o.port, 0, 65535),
    bindAddress,
    token: checkToken(o.token),
    encryption,
    hostMiB: requireInt("hostMiB", o.hostMiB ?? LISTENER_DEFAULTS.hostMiB, 1, MAX_HOST_MIB),
    host: o.host ?? null,
    idleTimeoutMs: requireNumber("idleTimeoutMs", o.idleTimeoutMs ?? LISTENER_DEFAULTS.idleTimeoutMs, 1, DAY_MS),
    maxHandshakes: requireInt("maxHandshakes", o.maxHandshakes ?? LISTENER_DEFAULTS.maxHandshakes, 1, 1024),
    handshakeTimeoutMs: requireNumber("handshakeTimeoutMs", o.handshakeTimeoutMs ?? LISTENER_DEFAULTS.handshakeTimeoutMs, 1, DAY_MS),
    minRateBytesPerSec: requireNumber("minRateBytesPerSec", o.minRateBytesPerSec ?? LISTENER_DEFAULTS.minRateBytesPerSec, 0, 1e12),
    progressWindowMs: requireNumber("progressWindowMs", o.progressWindowMs ?? LISTENER_DEFAULTS.progressWindowMs, 1, DAY_MS),
    releaseHostAfterMs: release === null ? null : requireNumber("releaseHostAfterMs", release, 0, DAY_MS),
    receiverLimits: o.receiverLimits ?? {},
    onReport: optionalFunction("onReport", o.onReport),
    onGuest: optionalFunction("onGuest", o.onGuest),
    streams: resolveStreams(o.streams),
  });
}
