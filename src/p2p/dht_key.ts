// Where a job is found in the DHT: a content id derived from the job id and the job token, so
// coordinators of one job find each other's provider records and nobody without the token can
// even look the job up (the key is an HMAC of the job id, then hashed once more into a CID).
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import { create } from 'multiformats/hashes/digest';
import { mac } from '../security/auth.js';

const RAW = 0x55;
const SHA2_256 = 0x12;

export function jobKey(job: string, token: string): CID {
  const bytes = createHash('sha256')
    .update(`onet-wan-job|${mac(token, ['dht-key', job])}`)
    .digest();
  return CID.createV1(RAW, create(SHA2_256, new Uint8Array(bytes)));
}
