// Where the web endpoint listens: ONET_WEB_HOST is an address or an interface name (loopback by
// default: a browser on this host needs no more), ONET_WEB_PORT a port (unset or 0: any free
// one), and wss when ONET_TLS_CERT/KEY/CA are set (the job's CA signs the page's certificate).
import { networkInterfaces } from 'node:os';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { tlsFrom } from '../security/tls.js';

export interface WebBind {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
}

export function webBind(env: NodeJS.ProcessEnv): WebBind {
  const want = String(setting('webHost', env)).trim() || '127.0.0.1';
  let host = want;
  const ifs = networkInterfaces();
  if (ifs[want]) {
    const a = ifs[want]!.find((x) => x.family === 'IPv4') ?? ifs[want]![0];
    if (!a) throw new OnetError('EINVAL', `ONET_WEB_HOST=${want}: the interface has no address`);
    host = a.address;
  }
  const portText = String(setting('webPort', env)).trim();
  const port = portText === '' ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new OnetError('EINVAL', `ONET_WEB_PORT=${JSON.stringify(portText)} is not a port (0-65535; 0 = any free)`);
  const t = tlsFrom(env);
  return { host, port, ...(t ? { tls: { cert: t.cert, key: t.key } } : {}) };
}
