// Encryption of the inter-host data path (native TCP transport, docs/transport.md
// "Encryption"): which PEM files the native device gets, decided by ONET_TLS_DATA.
//   auto (default): on when ONET_TLS_CERT/ONET_TLS_KEY/ONET_TLS_CA are set (the rendezvous's
//   mutual TLS), off otherwise;  1: required (an error without the three files);  0: off.
import { setting, settingText } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { tlsFrom } from './tls.js';

export interface DataTlsPaths {
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
}

/** Paths for the native TcpOptions, or undefined when the data path stays plaintext. */
export function dataTlsFrom(env: NodeJS.ProcessEnv, transport: 'tcp' | 'ucx'): DataTlsPaths | undefined {
  const mode = settingText('tlsData', env).trim().toLowerCase(); // checked here, with the modes explained
  if (!['auto', '0', '1'].includes(mode))
    throw new OnetError(
      'EINVAL',
      `ONET_TLS_DATA=${mode} is not a mode; use auto (encrypt when ONET_TLS_* are set), 1 (required) or 0 (off)`,
    );
  if (mode === '0') return undefined;
  const files = tlsFrom(env); // checks all three or none, and that they are readable
  if (!files) {
    if (mode === '1')
      throw new OnetError(
        'EINVAL',
        'ONET_TLS_DATA=1 needs ONET_TLS_CERT, ONET_TLS_KEY and ONET_TLS_CA (PEM files) to encrypt the data path',
      );
    return undefined;
  }
  if (transport !== 'tcp') {
    if (mode === '1')
      throw new OnetError(
        'EINVAL',
        `ONET_TLS_DATA=1: the ${transport} transport has no encryption; use ONET_TRANSPORT=tcp, or ` +
          `ONET_TLS_DATA=auto to run ${transport} unencrypted`,
      );
    return undefined;
  }
  return {
    tlsCert: String(setting('tlsCert', env)),
    tlsKey: String(setting('tlsKey', env)),
    tlsCa: String(setting('tlsCa', env)),
  };
}
