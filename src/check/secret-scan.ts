// Finds secrets in what the application showed the browser or wrote to its log: the exact values the checker
// knows (client secret, the codes it minted), RS256 JWTs (access tokens, login tokens), and private-key material
// (PEM armour, or a base64 run that really parses as an RSA private key). Reports the kind, never the value.

import { createPrivateKey } from 'node:crypto';

export type SecretKind =
  | 'client secret'
  | 'authorization code'
  | 'access token'
  | 'login JWT'
  | 'private key';

export interface Finding {
  kind: SecretKind;
  where: string;
}

const DASHES = '-'.repeat(5);
/** PEM private-key armour, built here so no source file spells it out. */
const PEM_ARMOUR = new RegExp(`${DASHES}BEGIN [A-Z ]*PRIVATE KEY${DASHES}`);
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{20,}/g;
/** A DER private key in base64 starts `MII`; lines may be split by newlines or escaped `\n`. */
const DER_RUN = /MII[A-Za-z0-9+/=]{60,}(?:(?:\\r)?(?:\\n|\r?\n)[A-Za-z0-9+/=]{4,})*/g;

function jwtKind(token: string): SecretKind | undefined {
  const [h, p] = token.split('.');
  try {
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as { alg?: unknown };
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (header.alg !== 'RS256' || typeof payload !== 'object' || payload === null) return undefined;
    return 'scope' in payload || 'azp' in payload ? 'access token' : 'login JWT';
  } catch {
    return undefined;
  }
}

function isPrivateKeyDer(run: string): boolean {
  const der = Buffer.from(run.replace(/\\r|\\n|\s/g, ''), 'base64');
  if (der.length < 600) return false;
  for (const type of ['pkcs1', 'pkcs8'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {}
  }
  return false;
}

function decoded(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

export class SecretScanner {
  readonly #exact = new Map<string, SecretKind>();

  /** A value that must never be shown (shorter ones could match ordinary text by chance and are ignored). */
  add(kind: SecretKind, value: string | undefined): void {
    if (value && value.length >= 12) this.#exact.set(value, kind);
  }

  /** Every kind of secret found in the text (one finding per kind). */
  scan(text: string, where: string): Finding[] {
    const kinds = new Set<SecretKind>();
    for (const t of new Set([text, decoded(text)])) {
      for (const [value, kind] of this.#exact) if (t.includes(value)) kinds.add(kind);
      for (const m of t.matchAll(JWT)) {
        const k = jwtKind(m[0]);
        if (k) kinds.add(k);
      }
      if (PEM_ARMOUR.test(t)) kinds.add('private key');
      else for (const m of t.matchAll(DER_RUN)) if (isPrivateKeyDer(m[0])) kinds.add('private key');
    }
    return [...kinds].map((kind) => ({ kind, where }));
  }

  /** The text with every known exact secret replaced, for evidence sentences. */
  redact(text: string): string {
    let out = text;
    for (const value of this.#exact.keys()) out = out.split(value).join('[redacted]');
    return out;
  }
}
