// A prototype for stand-ins of Fetch objects (Request, Response) that build the real object only when a member
// beyond the cheap ones is used: every getter and method of the class, and the own (symbol-keyed) state other
// Fetch code reads directly, answer from the real object, so `instanceof` and behaviour stay those of the class.

export function deferredPrototype<T extends object>(
  base: { prototype: T },
  sample: T,
  realOf: (stand: T) => T,
): Record<PropertyKey, unknown> {
  const proto = Object.create(base.prototype) as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(base.prototype)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(base.prototype, key)!;
    if (d.get) {
      const get = d.get;
      Object.defineProperty(proto, key, {
        configurable: true,
        enumerable: d.enumerable ?? false,
        get(this: T) {
          return get.call(realOf(this));
        },
      });
    } else if (typeof d.value === 'function') {
      const fn = d.value as (...args: unknown[]) => unknown;
      Object.defineProperty(proto, key, {
        configurable: true,
        writable: true,
        enumerable: d.enumerable ?? false,
        value(this: T, ...args: unknown[]) {
          return fn.apply(realOf(this), args);
        },
      });
    }
  }
  for (const key of Reflect.ownKeys(sample)) {
    Object.defineProperty(proto, key, {
      configurable: true,
      get(this: T) {
        return (realOf(this) as unknown as Record<PropertyKey, unknown>)[key];
      },
    });
  }
  return proto;
}
