#!/usr/bin/env node
// Checks a breachindex evidence bundle with Node's standard library alone: no breachindex, no
// npm package. The same checks as `breachindex campaign bundle verify` (breachindex/campaign/bundles.py):
//   1. every file against the SHA-256 the manifest lists;
//   2. the tree head's Ed25519 signature under the foundation's public key (hex, or a PEM file);
//   3. each audit entry's RFC 6962 inclusion proof against the root the head signs;
//   4. each mandate's text against the text_sha256 its mandate_signed entry recorded.
//
//   node scripts/verify_bundle.mjs BUNDLE_FOLDER PUBLIC_KEY_HEX_OR_PEM_FILE
//
// Exit 0: the bundle holds. Exit 2: it does not (the first failure is named) or it cannot be read.
import { createHash, createPublicKey, verify as verifySignature } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, normalize, sep } from "node:path";

const FORMAT = "breachindex-evidence/1";
const HEAD_DOMAIN = Buffer.from("breachindex audit tree head v1\0", "latin1");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

const sha256 = (data) => createHash("sha256").update(data).digest();
const leafHash = (data) => sha256(Buffer.concat([Buffer.from([0]), data]));
const nodeHash = (left, right) => sha256(Buffer.concat([Buffer.from([1]), left, right]));

function fail(problem) {
  console.error(`bundle NOT verified: ${problem}`);
  process.exit(2);
}

function publicKey(arg) {
  if (/^[0-9a-fA-F]{64}$/.test(arg)) {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(arg, "hex")]), format: "der", type: "spki" });
  }
  return createPublicKey(readFileSync(arg));
}

// RFC 9162 section 2.1.3.2, as breachindex/campaign/merkle.py verify_inclusion
function verifyInclusion(leaf, index, size, path, root) {
  if (!(index >= 0 && index < size) || path.some((p) => p.length !== 32)) return false;
  let fn = BigInt(index), sn = BigInt(size - 1), node = leaf;
  for (const sibling of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      node = nodeHash(sibling, node);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      node = nodeHash(node, sibling);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n && node.equals(root);
}

function headMessage(head) {
  const sizes = Buffer.alloc(16);
  sizes.writeBigUInt64BE(BigInt(head.tree_size), 0);
  sizes.writeBigUInt64BE(BigInt(head.timestamp_us), 8);
  return Buffer.concat([HEAD_DOMAIN, sizes, Buffer.from(head.root_hash, "hex")]);
}

function main([folder, keyArg]) {
  if (!folder || !keyArg) {
    console.error("usage: node verify_bundle.mjs BUNDLE_FOLDER PUBLIC_KEY_HEX_OR_PEM_FILE");
    process.exit(2);
  }
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(folder, "manifest.json"), "utf8"));
  } catch {
    fail("manifest.json is missing or malformed");
  }
  if (manifest.format !== FORMAT) fail("not a breachindex evidence bundle (format)");
  const key = publicKey(keyArg);
  const raw = key.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519.length);
  const head = manifest.tree_head;
  if (head.key_id !== sha256(raw).toString("hex") ||
      !verifySignature(null, headMessage(head), key, Buffer.from(head.signature, "hex"))) {
    fail("the tree head's signature does not hold under this public key");
  }
  for (const [name, digest] of Object.entries(manifest.files)) {
    const path = join(folder, name);
    if (normalize(name).split(sep).includes("..") || !existsSync(path) || !statSync(path).isFile()) {
      fail(`${name}: missing`);
    }
    if (sha256(readFileSync(path)).toString("hex") !== digest) fail(`${name}: its SHA-256 is not the manifest's`);
  }
  const signed = new Map();
  for (const item of manifest.entries) {
    if (!(item.file in manifest.files)) fail(`${item.file}: not listed among the files`);
    const body = readFileSync(join(folder, item.file));
    let entry;
    try { entry = JSON.parse(body.toString("ascii")); } catch { fail(`${item.file}: not an audit entry`); }
    const proof = item.proof;
    const path = proof.path.map((p) => Buffer.from(p, "hex"));
    if (entry.seq !== proof.leaf_index + 1 || proof.tree_size !== head.tree_size ||
        !verifyInclusion(leafHash(body), proof.leaf_index, proof.tree_size, path, Buffer.from(head.root_hash, "hex"))) {
      fail(`${item.file}: not in the log the tree head signs (inclusion proof fails)`);
    }
    if (entry.kind === "mandate_signed") signed.set(String(entry.payload.mandate), entry.payload);
  }
  for (const m of manifest.mandates) {
    const textName = `mandates/${m.id}/text.txt`;
    if (!(textName in manifest.files)) fail(`${textName}: missing from the manifest`);
    const payload = signed.get(m.id);
    if (!payload) fail(`mandate ${m.id}: no mandate_signed entry proved in the bundle`);
    const digest = sha256(readFileSync(join(folder, textName))).toString("hex");
    if (digest !== payload.text_sha256 || digest !== m.text_sha256) {
      fail(`mandate ${m.id}: the text is not the one whose hash the log recorded`);
    }
  }
  console.log(`bundle verified: ${Object.keys(manifest.files).length} files, ${manifest.entries.length} entries, ` +
              `${manifest.mandates.length} mandate(s), tree size ${head.tree_size}`);
}

main(process.argv.slice(2));
