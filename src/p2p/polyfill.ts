// Node 20 gaps js-libp2p 3.x relies on, filled here, once, before any libp2p code runs (every src/p2p
// module that builds a node imports this first): Promise.withResolvers and a global WebSocket (Node 22+).
import { WebSocket as WsWebSocket } from 'ws';

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

/**
 * The `ws` package's WebSocket, made to behave like the DOM one @libp2p/websockets dials with (a global
 * `WebSocket`, undefined on Node 20: "WebSocket is not defined"): a socket error is followed by a close
 * event, never an unhandled 'error' event that kills the process, and close(1006), libp2p's reset, which
 * `ws` refuses (1006 is not a code one may send), drops the connection at once instead of throwing.
 */
class NodeWebSocket extends WsWebSocket {
  constructor(...args: ConstructorParameters<typeof WsWebSocket>) {
    super(...args);
    this.on('error', () => {}); // the 'close' that follows tells libp2p
  }
  override close(code?: number, data?: string | Buffer): void {
    if (code === 1006) this.terminate();
    else super.close(code, data);
  }
}
const G = globalThis as { WebSocket?: unknown };
if (typeof G.WebSocket !== 'function') G.WebSocket = NodeWebSocket;
