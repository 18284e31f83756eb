// A host's persistent libp2p identity: an Ed25519 key kept in its state directory (owner-only),
// so its peer id survives restarts and can sit on another host's ONET_P2P_ALLOW list.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { setting } from '../config/settings.js';
import { ensurePrivateDir } from '../coordinator/paths.js';
import { OnetError } from '../errors.js';

/** ONET_STATE_DIR, else $XDG_STATE_HOME/opennetworks, else ~/.local/state/opennetworks. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = String(setting('stateDir', env));
  if (explicit) return explicit;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'opennetworks');
  return join(homedir(), '.local', 'state', 'opennetworks');
}

/** Load the Ed25519 key at `file`, or create it (mode 0600 in a 0700 directory) when absent. */
export async function loadOrCreateKey(file: string): Promise<{ key: PrivateKey; created: boolean }> {
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o077;
    if (mode)
      throw new OnetError(
        'EINVAL',
        `${file} is readable by others (mode ${(statSync(file).mode & 0o777).toString(8)})` +
          `; it is this host's libp2p private key: chmod 600 it`,
      );
    try {
      const key = privateKeyFromProtobuf(readFileSync(file));
      if (key.type !== 'Ed25519') throw new Error(`a ${key.type} key, not Ed25519`);
      return { key, created: false };
    } catch (e) {
      throw new OnetError(
        'EINVAL',
        `${file} is not a libp2p Ed25519 private key (${(e as Error).message}); ` +
          'move it away and a new identity is created',
      );
    }
  }
  ensurePrivateDir(join(file, '..'));
  const key = await generateKeyPair('Ed25519');
  writeFileSync(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
  return { key, created: true };
}

/** This host's coordinator identity: <state dir>/p2p.key. */
export function hostKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'p2p.key');
}
