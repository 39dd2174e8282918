// Signs attest wallet challenges with real wallet libraries, so that the
// server's verification is checked against what wallets produce, not
// against our own code.
//
//   node wallets.mjs vectors > vectors.json
//       the interoperability vectors the Go tests read (committed, so that
//       `go test` needs no Node.js)
//   node wallets.mjs address KIND SEED [PREFIX]
//       the address of a key: KIND is ethereum, ed25519 or sr25519; SEED
//       is 32 bytes in hex (a private key for ethereum, a mini secret for
//       the others); PREFIX is the SS58 network (default 42)
//   node wallets.mjs sign KIND SEED [bytes] < MESSAGE
//       the signature of the message on standard input, as a wallet makes
//       it: personal_sign (EIP-191) for ethereum; for ed25519 and sr25519
//       the bare message, or with "bytes" wrapped in <Bytes>...</Bytes>
//       as the polkadot.js extension's signRaw does
import { Wallet, SigningKey, getBytes } from 'ethers';
import { Keyring } from '@polkadot/keyring';
import { u8aWrapBytes, hexToU8a, u8aToHex, stringToU8a } from '@polkadot/util';
import { cryptoWaitReady, encodeAddress, decodeAddress } from '@polkadot/util-crypto';
import { readFileSync } from 'node:fs';

await cryptoWaitReady();

function substratePair(kind, seed, prefix = 42) {
  const keyring = new Keyring({ type: kind, ss58Format: prefix });
  return keyring.addFromSeed(hexToU8a(seed));
}

function address(kind, seed, prefix) {
  if (kind === 'ethereum') return new Wallet(seed).address;
  return substratePair(kind, seed, prefix).address;
}

async function sign(kind, seed, message, wrapped) {
  if (kind === 'ethereum') return new Wallet(seed).signMessage(message);
  const pair = substratePair(kind, seed);
  const data = wrapped ? u8aWrapBytes(stringToU8a(message)) : stringToU8a(message);
  return u8aToHex(pair.sign(data));
}

// Fixed seeds: anyone can regenerate the same vectors (sr25519 signatures
// are randomized, so those differ from run to run but all verify).
const seeds = [
  '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318',
  '0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a',
  '0x0000000000000000000000000000000000000000000000000000000000000001',
];

const messages = [
  `attest.example.com wants you to sign in with your Ethereum account:
{address}

Sign in to attest.

URI: ssh://attest.example.com
Version: 1
Chain ID: 1
Nonce: 5dpu4xwqf2chhwk3mjyh6vuwmq
Issued At: 2026-12-05T12:00:00Z
Expiration Time: 2026-12-05T12:05:00Z`,
  'a short message',
  'ünïcödé and a line\nbreak',
];

async function vectors() {
  const out = { generator: 'testdata/wallets/wallets.mjs', ethereum: [], substrate: [], ss58: [] };
  for (const seed of seeds) {
    const w = new Wallet(seed);
    for (const m of messages) {
      const message = m.replace('{address}', w.address);
      const signature = await w.signMessage(message);
      out.ethereum.push({
        private_key: seed,
        public_key: SigningKey.computePublicKey(seed, false),
        address: w.address,
        message,
        signature,
      });
    }
    for (const kind of ['ed25519', 'sr25519']) {
      const pair = substratePair(kind, seed);
      for (const m of messages) {
        const message = m.replace('Ethereum', 'Substrate').replace('{address}', pair.address).replace('Chain ID: 1\n', '');
        for (const wrapped of [true, false]) {
          out.substrate.push({
            type: kind,
            seed,
            public_key: u8aToHex(pair.publicKey),
            address: pair.address,
            message,
            wrapped,
            signature: await sign(kind, seed, message, wrapped),
          });
        }
      }
      // The same key under several networks, one-byte and two-byte prefixes.
      for (const prefix of [0, 2, 42, 63, 64, 255, 16383]) {
        out.ss58.push({ public_key: u8aToHex(pair.publicKey), prefix, address: encodeAddress(pair.publicKey, prefix) });
      }
    }
  }
  return out;
}

const [cmd, kind, seed, extra] = process.argv.slice(2);
switch (cmd) {
  case 'vectors':
    process.stdout.write(JSON.stringify(await vectors(), null, 1) + '\n');
    break;
  case 'address':
    process.stdout.write(address(kind, seed, extra === undefined ? 42 : Number(extra)) + '\n');
    break;
  case 'sign': {
    const message = readFileSync(0, 'utf8');
    process.stdout.write((await sign(kind, seed, message, extra === 'bytes')) + '\n');
    break;
  }
  default:
    process.stderr.write('usage: node wallets.mjs vectors | address KIND SEED [PREFIX] | sign KIND SEED [bytes] < MESSAGE\n');
    process.exit(2);
}
