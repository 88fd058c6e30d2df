// Session keys of a migration connection: what the handshake's shared token
// and its two fresh nonces become once both ends have proved the token. HKDF
// (RFC 5869, node:crypto hkdfSync, SHA-256) extracts from the token with
// both nonces as the salt, then expands one key and one nonce base per
// direction; the labels name the protocol version, the protection suite and
// the direction, so no two uses share a key:
//
//   keyMaterial(direction) = HKDF-SHA256(ikm  = token,
//                                        salt = clientNonce ‖ serverNonce,
//                                        info = "hypermem-migrate-v3 <suite> <direction>",
//                                        44 bytes)
//                          = key (32 bytes) ‖ iv (12 bytes)
//   suite      "aes-256-gcm" | "gmac-aes-256"
//   direction  "client->server" (the source's records) | "server->client"
//
// A new connection has new nonces, so new keys: a record of one session
// never authenticates in another. The suite is in the label (and in both
// handshake proofs), so keys for the integrity-only suite never equal the
// encrypting suite's, whatever a man in the middle does to the negotiation.
import { hkdfSync } from "node:crypto";
import { ErrorCode, HypermemError } from "../errors.js";

/**
 * How records are protected, as the HELLO message carries it (one byte).
 * Aes256Gcm: encrypted and authenticated (the default). GmacAes256:
 * authenticated only (AES-256-GCM over an empty plaintext with the record as
 * additional data): the bytes travel in clear.
 */
export const Suite = { Aes256Gcm: 1, GmacAes256: 2 } as const;
export type Suite = (typeof Suite)[keyof typeof Suite];

/** The name of each suite, in messages and in the key labels. */
export const SUITE_NAMES: Readonly<Record<Suite, string>> = { 1: "aes-256-gcm", 2: "gmac-aes-256" };

/** True when `value` is a suite this hypermem speaks. */
export function isSuite(value: number): value is Suite {
  return value === Suite.Aes256Gcm || value === Suite.GmacAes256;
}

/** The suite for a connection that encrypts (true, the default) or only authenticates (false). */
export function suiteFor(encryption: boolean): Suite {
  return encryption ? Suite.Aes256Gcm : Suite.GmacAes256;
}

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
/** The protocol version in the labels (the handshake's major). */
const LABEL_PREFIX = "hypermem-migrate-v3";

/** One direction's key and nonce base. */
export interface DirectionKeys {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
}

export interface SessionKeys {
  readonly suite: Suite;
  /** Protects what the client (the migration source) sends. */
  readonly clientToServer: DirectionKeys;
  /** Protects what the server (the destination) sends. */
  readonly serverToClient: DirectionKeys;
}

function expand(token: Uint8Array, salt: Uint8Array, suite: Suite, direction: string): DirectionKeys {
  const bytes = new Uint8Array(hkdfSync("sha256", token, salt, `${LABEL_PREFIX} ${SUITE_NAMES[suite]} ${direction}`, KEY_BYTES + IV_BYTES));
  return Object.freeze({ key: bytes.subarray(0, KEY_BYTES), iv: bytes.subarray(KEY_BYTES) });
}

/** Derives both directions' keys of a session; the nonces are the handshake's (32 bytes each). */
export function deriveSessionKeys(token: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array, suite: Suite): SessionKeys {
  if (!isSuite(suite)) throw new HypermemError(ErrorCode.BadOption, `unknown protection suite ${String(suite)}`, { option: "suite", value: suite });
  const salt = new Uint8Array(clientNonce.length + serverNonce.length);
  salt.set(clientNonce);
  salt.set(serverNonce, clientNonce.length);
  return Object.freeze({
    suite,
    clientToServer: expand(token, salt, suite, "client->server"),
    serverToClient: expand(token, salt, suite, "server->client"),
  });
}
