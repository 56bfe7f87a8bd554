// The PKCS#11 C API bound through koffi (an FFI package that ships prebuilt binaries, so nothing is compiled at
// install time and one build loads on every Node version): loaded lazily, only when a PKCS#11 module is used.

import { endianness } from 'node:os';
import { CKM_AES_GCM, CKR, rvName } from './constants.js';

/** A failed Cryptoki call: which function, and its return value. Mapped to a `Pkcs11Error` by the caller. */
export class CkError extends Error {
  constructor(
    readonly fn: string,
    readonly rv: number,
  ) {
    super(`${fn} returned ${rvName(rv)}`);
    this.name = 'CkError';
  }
}

/** One attribute of a template: its type and its value bytes (read or written in place). */
export interface Attribute {
  readonly type: number;
  readonly value: Buffer;
}

export interface TokenInfo {
  readonly label: string;
  readonly serial: string;
  readonly flags: number;
}

/** The calls the provider makes. Each throws `CkError` unless the call returned CKR_OK. */
export interface Cryptoki {
  /** CK_ULONG's size in bytes on this platform (8 on 64-bit Linux and macOS, 4 on Windows). */
  readonly ulongBytes: number;
  /** Returns true when this call initialised the module, false when it already was (CKR_CRYPTOKI_ALREADY_INITIALIZED). */
  initialize(): boolean;
  finalize(): void;
  slots(tokenPresent: boolean): number[];
  tokenInfo(slot: number): TokenInfo;
  openSession(slot: number, flags: number): number;
  closeSession(session: number): void;
  login(session: number, userType: number, pin: Buffer): void;
  findObjects(session: number, template: readonly Attribute[], max: number): number[];
  generateKey(session: number, mechanism: number, template: readonly Attribute[]): number;
  createObject(session: number, template: readonly Attribute[]): number;
  destroyObject(session: number, object: number): void;
  /** Fills each attribute's buffer; returns the lengths the token reported (CK_UNAVAILABLE_INFORMATION as -1). */
  getAttributes(session: number, object: number, template: readonly Attribute[]): number[];
  setAttributes(session: number, object: number, template: readonly Attribute[]): void;
  /**
   * AES-GCM with a 128-bit tag. `iv` is read and, when the token generates IVs itself (as FIPS-mode modules
   * do), overwritten in place: the caller keeps whatever it holds afterwards.
   */
  gcmEncrypt(session: number, key: number, iv: Buffer, aad: Buffer, data: Buffer): Buffer;
  gcmDecrypt(session: number, key: number, iv: Buffer, aad: Buffer, data: Buffer): Buffer;
  sign(session: number, mechanism: number, key: number, data: Buffer): Buffer;
  /** A CK_ULONG attribute value in native byte order. */
  ulong(value: number): Buffer;
  readUlong(bytes: Buffer): number;
}

/** The part of koffi's API used here (koffi is an optional peer: its own types are not a build dependency). */
interface Koffi {
  load(path: string): { func(name: string, result: unknown, args: unknown[]): (...a: unknown[]) => unknown };
  struct(name: string, def: Record<string, unknown>): unknown;
  pack(name: string, def: Record<string, unknown>): unknown;
  pointer(type: unknown): unknown;
  array(type: unknown, length: number, hint?: string): unknown;
  out(type: unknown): unknown;
  inout(type: unknown): unknown;
  sizeof(type: unknown): number;
  encode(ref: Buffer, type: unknown, value: unknown): void;
}

/** Thrown when the optional binding is not installed. */
export class BindingMissingError extends Error {
  constructor() {
    super('the koffi package is not installed');
    this.name = 'BindingMissingError';
  }
}

let koffiPromise: Promise<Koffi> | undefined;

/** Imports koffi on first use; the specifier is a variable so nothing resolves it when PKCS#11 is not used. */
export function loadKoffi(): Promise<Koffi> {
  koffiPromise ??= (async () => {
    const specifier = 'koffi';
    try {
      const mod = (await import(specifier)) as { default?: Koffi } & Koffi;
      return mod.default ?? mod;
    } catch (e) {
      koffiPromise = undefined;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new BindingMissingError();
      throw e;
    }
  })();
  return koffiPromise;
}

type Fn = (...a: unknown[]) => number;

const UNAVAILABLE = -1;

/** Binds the Cryptoki functions of the module at `path`. Throws whatever koffi throws when it does not load. */
export function bindCryptoki(koffi: Koffi, path: string): Cryptoki {
  const lib = koffi.load(path);
  const ul = 'unsigned long';
  // Cryptoki structures are packed to 1 byte on Windows and naturally aligned elsewhere (pkcs11.h, section 2.1).
  const record = (name: string, def: Record<string, unknown>) =>
    process.platform === 'win32' ? koffi.pack(name, def) : koffi.struct(name, def);
  // Each module gets its own type names: koffi refuses to declare one name twice.
  const n = (name: string) => `${name}_${bindings++}`;
  const ATTRIBUTE = record(n('CK_ATTRIBUTE'), { type: ul, pValue: 'void *', ulValueLen: ul });
  const MECHANISM = record(n('CK_MECHANISM'), { mechanism: ul, pParameter: 'void *', ulParameterLen: ul });
  // v2.40 errata and v3.0 layout (with ulIvBits), which SoftHSM2 and current vendor modules use.
  const GCM_PARAMS = record(n('CK_GCM_PARAMS'), {
    pIv: 'void *',
    ulIvLen: ul,
    ulIvBits: ul,
    pAAD: 'void *',
    ulAADLen: ul,
    ulTagBits: ul,
  });
  const VERSION = record(n('CK_VERSION'), { major: 'uint8_t', minor: 'uint8_t' });
  const TOKEN_INFO = record(n('CK_TOKEN_INFO'), {
    label: koffi.array('uint8_t', 32, 'Typed'),
    manufacturerID: koffi.array('uint8_t', 32, 'Typed'),
    model: koffi.array('uint8_t', 16, 'Typed'),
    serialNumber: koffi.array('uint8_t', 16, 'Typed'),
    flags: ul,
    ulMaxSessionCount: ul,
    ulSessionCount: ul,
    ulMaxRwSessionCount: ul,
    ulRwSessionCount: ul,
    ulMaxPinLen: ul,
    ulMinPinLen: ul,
    ulTotalPublicMemory: ul,
    ulFreePublicMemory: ul,
    ulTotalPrivateMemory: ul,
    ulFreePrivateMemory: ul,
    hardwareVersion: VERSION,
    firmwareVersion: VERSION,
    utcTime: koffi.array('uint8_t', 16, 'Typed'),
  });
  const ulOut = koffi.out(koffi.pointer(ul));
  const ulInout = koffi.inout(koffi.pointer(ul));
  const attrs = koffi.pointer(ATTRIBUTE);
  const mech = koffi.pointer(MECHANISM);
  const f = (name: string, args: unknown[]): Fn => lib.func(name, ul, args) as Fn;
  const C = {
    Initialize: f('C_Initialize', ['void *']),
    Finalize: f('C_Finalize', ['void *']),
    GetSlotList: f('C_GetSlotList', ['uint8_t', koffi.out(koffi.pointer(ul)), ulInout]),
    GetTokenInfo: f('C_GetTokenInfo', [ul, koffi.out(koffi.pointer(TOKEN_INFO))]),
    OpenSession: f('C_OpenSession', [ul, ul, 'void *', 'void *', ulOut]),
    CloseSession: f('C_CloseSession', [ul]),
    Login: f('C_Login', [ul, ul, 'void *', ul]),
    FindObjectsInit: f('C_FindObjectsInit', [ul, attrs, ul]),
    FindObjects: f('C_FindObjects', [ul, koffi.out(koffi.pointer(ul)), ul, ulOut]),
    FindObjectsFinal: f('C_FindObjectsFinal', [ul]),
    GenerateKey: f('C_GenerateKey', [ul, mech, attrs, ul, ulOut]),
    CreateObject: f('C_CreateObject', [ul, attrs, ul, ulOut]),
    DestroyObject: f('C_DestroyObject', [ul, ul]),
    GetAttributeValue: f('C_GetAttributeValue', [ul, ul, koffi.inout(attrs), ul]),
    SetAttributeValue: f('C_SetAttributeValue', [ul, ul, attrs, ul]),
    EncryptInit: f('C_EncryptInit', [ul, mech, ul]),
    Encrypt: f('C_Encrypt', [ul, 'void *', ul, 'void *', ulInout]),
    DecryptInit: f('C_DecryptInit', [ul, mech, ul]),
    Decrypt: f('C_Decrypt', [ul, 'void *', ul, 'void *', ulInout]),
    SignInit: f('C_SignInit', [ul, mech, ul]),
    Sign: f('C_Sign', [ul, 'void *', ul, 'void *', ulInout]),
  };
  const ulongBytes = koffi.sizeof(ul);
  const little = endianness() === 'LE';

  const check = (fn: string, rv: number) => {
    if (rv !== CKR.OK) throw new CkError(fn, rv);
  };
  const template = (t: readonly Attribute[]) =>
    t.map((a) => ({ type: a.type, pValue: a.value, ulValueLen: a.value.length }));
  const text = (bytes: Uint8Array) =>
    Buffer.from(bytes)
      .toString('utf8')
      .replace(/[ \0]+$/, '');

  /**
   * The mechanism parameters are written into a Buffer the caller keeps alive through both calls of an
   * operation: koffi stores the address of `iv` and `aad` (Buffers never move), so the module reads them in
   * place, and a module that generates its own IV writes it straight into `iv`.
   */
  const gcm = (iv: Buffer, aad: Buffer) => {
    const params = Buffer.alloc(koffi.sizeof(GCM_PARAMS));
    koffi.encode(params, GCM_PARAMS, {
      pIv: iv,
      ulIvLen: iv.length,
      ulIvBits: iv.length * 8,
      pAAD: aad.length > 0 ? aad : null,
      ulAADLen: aad.length,
      ulTagBits: 128,
    });
    return { mechanism: CKM_AES_GCM, pParameter: params, ulParameterLen: params.length };
  };

  /**
   * The single-part call of an operation already initialised: tries with a buffer of `guess` bytes and, when
   * the module answers CKR_BUFFER_TOO_SMALL (which leaves the operation active), once more with the size it
   * asked for. A spare buffer that held plaintext is wiped.
   */
  const finish = (name: string, call: Fn, session: number, data: Buffer, guess: number) => {
    let out = Buffer.alloc(guess);
    const len = [out.length];
    let rv = call(session, data, data.length, out, len);
    if (rv === CKR.BUFFER_TOO_SMALL) {
      out = Buffer.alloc(Number(len[0]));
      rv = call(session, data, data.length, out, len);
    }
    check(name, rv);
    const used = Number(len[0]);
    if (used === out.length) return out;
    const exact = Buffer.from(out.subarray(0, used));
    out.fill(0);
    return exact;
  };

  return {
    ulongBytes,
    initialize() {
      const rv = C.Initialize(null);
      if (rv === CKR.CRYPTOKI_ALREADY_INITIALIZED) return false;
      check('C_Initialize', rv);
      return true;
    },
    finalize() {
      check('C_Finalize', C.Finalize(null));
    },
    slots(tokenPresent) {
      const count = [0];
      check('C_GetSlotList', C.GetSlotList(tokenPresent ? 1 : 0, null, count));
      if (count[0] === 0) return [];
      const list = new Array<number>(Number(count[0])).fill(0);
      check('C_GetSlotList', C.GetSlotList(tokenPresent ? 1 : 0, list, count));
      return list.slice(0, Number(count[0])).map(Number);
    },
    tokenInfo(slot) {
      const info: Record<string, unknown> = {};
      check('C_GetTokenInfo', C.GetTokenInfo(slot, info));
      return {
        label: text(info.label as Uint8Array),
        serial: text(info.serialNumber as Uint8Array),
        flags: Number(info.flags),
      };
    },
    openSession(slot, flags) {
      const out = [0];
      check('C_OpenSession', C.OpenSession(slot, flags, null, null, out));
      return Number(out[0]);
    },
    closeSession(session) {
      check('C_CloseSession', C.CloseSession(session));
    },
    login(session, userType, pin) {
      check('C_Login', C.Login(session, userType, pin, pin.length));
    },
    findObjects(session, t, max) {
      check('C_FindObjectsInit', C.FindObjectsInit(session, template(t), t.length));
      try {
        const found = new Array<number>(max).fill(0);
        const count = [0];
        check('C_FindObjects', C.FindObjects(session, found, max, count));
        return found.slice(0, Number(count[0])).map(Number);
      } finally {
        C.FindObjectsFinal(session);
      }
    },
    generateKey(session, mechanism, t) {
      const out = [0];
      check(
        'C_GenerateKey',
        C.GenerateKey(
          session,
          { mechanism, pParameter: null, ulParameterLen: 0 },
          template(t),
          t.length,
          out,
        ),
      );
      return Number(out[0]);
    },
    createObject(session, t) {
      const out = [0];
      check('C_CreateObject', C.CreateObject(session, template(t), t.length, out));
      return Number(out[0]);
    },
    destroyObject(session, object) {
      check('C_DestroyObject', C.DestroyObject(session, object));
    },
    getAttributes(session, object, t) {
      const filled = template(t);
      const rv = C.GetAttributeValue(session, object, filled, t.length);
      // These three still fill every attribute they can, marking the others unavailable.
      if (rv !== CKR.ATTRIBUTE_SENSITIVE && rv !== CKR.ATTRIBUTE_TYPE_INVALID && rv !== CKR.BUFFER_TOO_SMALL)
        check('C_GetAttributeValue', rv);
      // CK_UNAVAILABLE_INFORMATION is ~0 in a CK_ULONG; koffi hands back a number or a bigint.
      return filled.map((a) => {
        const len = BigInt(a.ulValueLen);
        return len >= 2n ** BigInt(8 * ulongBytes) - 1n ? UNAVAILABLE : Number(len);
      });
    },
    setAttributes(session, object, t) {
      check('C_SetAttributeValue', C.SetAttributeValue(session, object, template(t), t.length));
    },
    gcmEncrypt(session, key, iv, aad, data) {
      const m = gcm(iv, aad);
      try {
        check('C_EncryptInit', C.EncryptInit(session, m, key));
        return finish('C_Encrypt', C.Encrypt, session, data, data.length + 16);
      } finally {
        // Touching the parameters after the last call keeps them alive until the operation has ended.
        m.pParameter.fill(0);
      }
    },
    gcmDecrypt(session, key, iv, aad, data) {
      const m = gcm(iv, aad);
      try {
        check('C_DecryptInit', C.DecryptInit(session, m, key));
        return finish('C_Decrypt', C.Decrypt, session, data, data.length);
      } finally {
        m.pParameter.fill(0);
      }
    },
    sign(session, mechanism, key, data) {
      check('C_SignInit', C.SignInit(session, { mechanism, pParameter: null, ulParameterLen: 0 }, key));
      // 512 bytes holds an RSA-4096 signature; a larger key asks for more.
      return finish('C_Sign', C.Sign, session, data, 512);
    },
    ulong(value) {
      const b = Buffer.alloc(ulongBytes);
      if (ulongBytes === 8) little ? b.writeBigUInt64LE(BigInt(value)) : b.writeBigUInt64BE(BigInt(value));
      else little ? b.writeUInt32LE(value) : b.writeUInt32BE(value);
      return b;
    },
    readUlong(bytes) {
      if (bytes.length === 8) return Number(little ? bytes.readBigUInt64LE() : bytes.readBigUInt64BE());
      return little ? bytes.readUInt32LE() : bytes.readUInt32BE();
    },
  };
}

let bindings = 0;
