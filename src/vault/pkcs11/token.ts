// One logged-in session on a PKCS#11 token: finding the token, logging in, finding key objects by label, and
// running calls with one reconnect when the session or the token went away meanwhile.

import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type Attribute,
  BindingMissingError,
  bindCryptoki,
  CkError,
  type Cryptoki,
  loadKoffi,
} from './binding.js';
import {
  CKA,
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKF_TOKEN_INITIALIZED,
  CKF_USER_PIN_LOCKED,
  CKR,
  CKU_USER,
} from './constants.js';
import { LOST, Pkcs11Error, tokenError } from './errors.js';

/** Which token: by its label (what `softhsm2-util --init-token --label` sets) or by slot id. */
export type TokenSelector = { readonly label: string } | { readonly slot: number };

export interface TokenOptions {
  /** Path of the PKCS#11 module (the vendor's shared library, e.g. libsofthsm2.so). */
  readonly module: string;
  readonly token: TokenSelector;
  /** The user PIN. It is kept (copied) for logging in again after the token was unplugged and plugged in. */
  readonly pin: string | Uint8Array;
}

interface LoadedModule {
  readonly cryptoki: Cryptoki;
  users: number;
  /** Whether this process's C_Initialize is ours to undo with C_Finalize. */
  owned: boolean;
  initialized: boolean;
  /**
   * SHA-256 of the PIN each token was logged in with, by token. The login state belongs to the whole process,
   * so a second session is told CKR_USER_ALREADY_LOGGED_IN without the token checking its PIN: this is how a
   * wrong PIN is still caught then.
   */
  readonly logins: Map<string, Buffer>;
}

/**
 * Modules by path. Cryptoki is initialised once per process and module, so tokens opened through the same module
 * share it; the last one to close finalises it (only when this code initialised it).
 */
const modules = new Map<string, Promise<LoadedModule>>();

async function acquire(path: string): Promise<LoadedModule> {
  let entry = modules.get(path);
  if (!entry) {
    entry = (async () => {
      let koffi: Awaited<ReturnType<typeof loadKoffi>>;
      try {
        koffi = await loadKoffi();
      } catch (e) {
        if (e instanceof BindingMissingError)
          throw new Pkcs11Error(
            'BINDING_MISSING',
            'the optional package "koffi" is not installed; install it (npm install koffi@3) to use a PKCS#11 token',
          );
        throw e;
      }
      try {
        return {
          cryptoki: bindCryptoki(koffi, path),
          users: 0,
          owned: false,
          initialized: false,
          logins: new Map(),
        };
      } catch (e) {
        // The loader's message names the path and what was missing (no secret can be in it).
        const detail = String((e as Error).message ?? e).split('\n')[0];
        throw new Pkcs11Error('MODULE_UNUSABLE', `module ${path} does not load (${detail})`);
      }
    })();
    modules.set(path, entry);
    entry.catch(() => modules.delete(path));
  }
  const m = await entry;
  if (!m.initialized) {
    try {
      m.owned = m.cryptoki.initialize();
    } catch (e) {
      const rv = e instanceof CkError ? e.rv : undefined;
      throw new Pkcs11Error(
        'MODULE_UNUSABLE',
        `module ${path} does not initialise (for SoftHSM2, check SOFTHSM2_CONF and its token folder)`,
        rv,
      );
    }
    m.initialized = true;
  }
  m.users++;
  return m;
}

function release(m: LoadedModule): void {
  m.users--;
  if (m.users === 0 && m.owned && m.initialized) {
    m.initialized = false;
    m.logins.clear();
    try {
      m.cryptoki.finalize();
    } catch {
      // Nothing is left to clean up: the module's own state is gone either way.
    }
  }
}

function describe(token: TokenSelector): string {
  return 'label' in token ? `token "${token.label}"` : `slot ${token.slot}`;
}

/** The slot holding the token, checked to be initialised and not locked. */
function findSlot(c: Cryptoki, token: TokenSelector): { slot: number; label: string; serial: string } {
  const present = c.slots(true);
  let matches: { slot: number; label: string; serial: string; flags: number }[];
  if ('label' in token) {
    matches = present.map((slot) => ({ slot, ...c.tokenInfo(slot) })).filter((t) => t.label === token.label);
    if (matches.length > 1)
      throw new Pkcs11Error(
        'TOKEN_NOT_FOUND',
        `more than one token is labelled "${token.label}"; name a slot`,
      );
  } else {
    matches = present.includes(token.slot) ? [{ slot: token.slot, ...c.tokenInfo(token.slot) }] : [];
  }
  const found = matches[0];
  if (!found) throw new Pkcs11Error('TOKEN_NOT_FOUND', `no ${describe(token)} is present`);
  if ((found.flags & CKF_TOKEN_INITIALIZED) === 0)
    throw new Pkcs11Error('TOKEN_NOT_FOUND', `${describe(token)} is not initialised`);
  if ((found.flags & CKF_USER_PIN_LOCKED) !== 0)
    throw new Pkcs11Error('PIN_LOCKED', `${describe(token)}: the user PIN is locked`);
  return { slot: found.slot, label: found.label, serial: found.serial };
}

/** A string attribute value (labels are UTF-8). */
export function utf8(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/**
 * The template of a new key object: class, key type and label, then one CK_BBOOL per flag, then `extra`
 * (a value length, an RSA key's parts).
 */
export function keyTemplate(
  c: Cryptoki,
  cls: number,
  keyType: number,
  label: string,
  flags: Readonly<Record<number, boolean>>,
  extra: readonly Attribute[] = [],
): Attribute[] {
  return [
    { type: CKA.CLASS, value: c.ulong(cls) },
    { type: CKA.KEY_TYPE, value: c.ulong(keyType) },
    { type: CKA.LABEL, value: utf8(label) },
    ...Object.entries(flags).map(([type, on]) => ({ type: Number(type), value: Buffer.from([on ? 1 : 0]) })),
    ...extra,
  ];
}

/**
 * A read-write user session on one token. Calls are synchronous native calls: an operation's init and final
 * calls run back to back on the one session, with no await between them, so operations never interleave.
 */
export class Pkcs11Token {
  readonly cryptoki: Cryptoki;
  readonly #module: LoadedModule;
  readonly #selector: TokenSelector;
  readonly #pin: Buffer;
  #session: number | undefined;
  #label = '';
  #slot = -1;
  #closed = false;
  /** Key object handles by class and label; dropped when the session is reopened. */
  readonly #handles = new Map<string, number>();

  private constructor(module: LoadedModule, selector: TokenSelector, pin: Buffer) {
    this.#module = module;
    this.cryptoki = module.cryptoki;
    this.#selector = selector;
    this.#pin = pin;
  }

  /** Loads the module, finds the token and logs in; every failure is a `Pkcs11Error` and leaves nothing open. */
  static async open(options: TokenOptions): Promise<Pkcs11Token> {
    const pin = Buffer.from(typeof options.pin === 'string' ? utf8(options.pin) : options.pin);
    const module = await acquire(options.module);
    const token = new Pkcs11Token(module, options.token, pin);
    try {
      token.#connect();
    } catch (e) {
      token.close();
      throw tokenError(e, describe(options.token));
    }
    return token;
  }

  /** The token's label as the token reports it. */
  get label(): string {
    return this.#label;
  }

  /** The slot the token was found in (slot ids may change when tokens are added or removed). */
  get slot(): number {
    return this.#slot;
  }

  #connect(): void {
    const c = this.cryptoki;
    if (this.#session !== undefined) {
      try {
        c.closeSession(this.#session);
      } catch {
        // The old session is already gone with the token.
      }
      this.#session = undefined;
    }
    this.#handles.clear();
    const { slot, label, serial } = findSlot(c, this.#selector);
    const session = c.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION);
    const id = `${serial}\0${label}`;
    const digest = createHash('sha256').update(this.#pin).digest();
    try {
      try {
        c.login(session, CKU_USER, this.#pin);
        this.#module.logins.set(id, digest);
      } catch (e) {
        // Another session of this process logged in already: the login state is shared by the application.
        if (!(e instanceof CkError && e.rv === CKR.USER_ALREADY_LOGGED_IN)) throw e;
        const known = this.#module.logins.get(id);
        if (known !== undefined && !timingSafeEqual(known, digest))
          throw new Pkcs11Error(
            'PIN_INCORRECT',
            `${describe(this.#selector)}: the token is logged in already, with another PIN`,
            CKR.PIN_INCORRECT,
          );
      }
    } catch (e) {
      try {
        c.closeSession(session);
      } catch {}
      throw e;
    }
    this.#session = session;
    this.#label = label;
    this.#slot = slot;
  }

  /**
   * Runs `fn` on the session. When the session, the login or the token was lost, reconnects once (the token
   * may have been unplugged and plugged in again) and runs `fn` again; when a cached key handle went stale,
   * looks the key up again. Anything else, and a second failure, becomes a `Pkcs11Error`.
   */
  run<T>(what: string, fn: (session: number) => T): T {
    if (this.#closed) throw new Pkcs11Error('CLOSED', `${what}: the token session was closed`);
    try {
      if (this.#session === undefined) this.#connect();
      return fn(this.#session!);
    } catch (first) {
      if (!(first instanceof CkError)) throw tokenError(first, what);
      const stale = first.rv === CKR.KEY_HANDLE_INVALID || first.rv === CKR.OBJECT_HANDLE_INVALID;
      if (!LOST.has(first.rv) && !stale) throw tokenError(first, what);
      try {
        if (stale) this.#handles.clear();
        else this.#connect();
        return fn(this.#session!);
      } catch (second) {
        if (second instanceof Pkcs11Error && second.reason === 'TOKEN_NOT_FOUND')
          throw new Pkcs11Error('TOKEN_REMOVED', `${what}: ${describe(this.#selector)} is gone`);
        if (stale && second instanceof Pkcs11Error && second.reason === 'KEY_NOT_FOUND')
          throw new Pkcs11Error(
            'KEY_NOT_FOUND',
            `${what}: the key object is gone from token "${this.#label}" (the token was removed or reset, or the key destroyed)`,
          );
        throw tokenError(second, what);
      }
    }
  }

  /** Handles of the objects of `cls` labelled `label` (at most `max`). */
  find(session: number, cls: number, label: string, max = 2): number[] {
    const c = this.cryptoki;
    return c.findObjects(
      session,
      [
        { type: CKA.CLASS, value: c.ulong(cls) },
        { type: CKA.LABEL, value: utf8(label) },
      ],
      max,
    );
  }

  /**
   * The one key object of `cls` labelled `label`, from the cache or the token. Two objects with one label are
   * refused: which of them would be used is up to the token.
   */
  key(session: number, cls: number, label: string): number {
    const id = `${cls}:${label}`;
    const cached = this.#handles.get(id);
    if (cached !== undefined) return cached;
    const found = this.find(session, cls, label);
    if (found.length === 0)
      throw new Pkcs11Error('KEY_NOT_FOUND', `no key labelled "${label}" in token "${this.#label}"`);
    if (found.length > 1)
      throw new Pkcs11Error(
        'KEY_UNSUITABLE',
        `more than one key is labelled "${label}" in token "${this.#label}"`,
      );
    this.#handles.set(id, found[0]!);
    return found[0]!;
  }

  /** Forgets a cached handle (after the object was destroyed). */
  forget(cls: number, label: string): void {
    this.#handles.delete(`${cls}:${label}`);
  }

  /** Logs out (by closing the session), wipes the PIN copy and releases the module. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#session !== undefined) {
      try {
        this.cryptoki.closeSession(this.#session);
      } catch {}
      this.#session = undefined;
    }
    this.#pin.fill(0);
    this.#handles.clear();
    release(this.#module);
  }
}
