// Mutual TLS 1.3 for the coordinators' rendezvous (ONET_TLS_CERT / ONET_TLS_KEY / ONET_TLS_CA):
// both sides present a certificate that chains to the job's CA, or the connection is dropped.
// Identity is "holds a key certified by this CA"; host names are not checked, because
// coordinators meet by IP address. The data path (native TCP transport) is encrypted with the
// same files by default (ONET_TLS_DATA, src/security/data_tls.ts, docs/transport.md).
import { readFileSync } from 'node:fs';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** The TLS material named by the environment, undefined when TLS is off; all three or none. */
export function tlsFrom(env: NodeJS.ProcessEnv): TlsFiles | undefined {
  const cert = String(setting('tlsCert', env)),
    key = String(setting('tlsKey', env)),
    ca = String(setting('tlsCa', env));
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key || !ca)
    throw new OnetError(
      'EINVAL',
      'mutual TLS needs all of ONET_TLS_CERT, ONET_TLS_KEY and ONET_TLS_CA (PEM files); set all three or none',
    );
  const read = (f: string, what: string) => {
    try {
      return readFileSync(f);
    } catch (e: any) {
      throw new OnetError('EINVAL', `cannot read ${what}=${f}: ${e.message}`);
    }
  };
  return { cert: read(cert, 'ONET_TLS_CERT'), key: read(key, 'ONET_TLS_KEY'), ca: read(ca, 'ONET_TLS_CA') };
}

/** Options shared by tls.createServer and tls.connect: TLS 1.3 only, peer certificate required. */
export function tlsOptions(t: TlsFiles) {
  return {
    cert: t.cert,
    key: t.key,
    ca: t.ca,
    minVersion: 'TLSv1.3' as const,
    maxVersion: 'TLSv1.3' as const,
    requestCert: true,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
  };
}
