// js-libp2p 3.x calls Promise.withResolvers (Node 22+); OpenNetworks supports Node 20, so define it
// here, once, before any libp2p code runs (every src/p2p module that builds a node imports this).
const P = Promise as unknown as { withResolvers?: () => unknown };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (v: T | PromiseLike<T>) => void;
    let reject!: (e?: unknown) => void;
    const promise = new Promise<T>((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
}

export {};
