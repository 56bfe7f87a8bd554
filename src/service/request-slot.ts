// A value kept on a request for the rest of its handling (who made it, what its audit record adds, the socket it
// came on). A module-private symbol property, which costs far less per request than a WeakMap entry; a request
// object that takes no new properties (frozen) keeps its value in a WeakMap instead.

export interface RequestSlot<T> {
  get(request: Request): T | undefined;
  set(request: Request, value: T): void;
}

export function requestSlot<T>(name: string): RequestSlot<T> {
  const key = Symbol(`noon-connect.${name}`);
  const fallback = new WeakMap<Request, T>();
  type Holder = Request & { [key]?: T };
  return {
    get(request) {
      return Object.hasOwn(request, key) ? (request as Holder)[key] : fallback.get(request);
    },
    set(request, value) {
      if (Object.isExtensible(request) || Object.hasOwn(request, key)) (request as Holder)[key] = value;
      else fallback.set(request, value);
    },
  };
}
