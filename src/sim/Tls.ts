/**
 * TLS material like PVE's: a self-signed cluster CA (pve-root-ca) and a per-node leaf
 * (pve-ssl) for localhost, signed by it. The fingerprint is the leaf's SHA-256 in PVE's
 * `ssl_fingerprint` form (uppercase colon hex, pve-common
 * `PVE::Certificate::get_certificate_fingerprint`).
 */
import forge from "node-forge"
import { createHash, generateKeyPairSync } from "node:crypto"

export interface SimTls {
  readonly caPem: string
  readonly certPem: string
  readonly keyPem: string
  readonly fingerprint: string
}

const rsaKeyPair = (): forge.pki.rsa.KeyPair => {
  // node:crypto generates RSA keys far faster than forge's pure-JS generator.
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString()
  const priv = forge.pki.privateKeyFromPem(pem)
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e) }
}

const validity = (cert: forge.pki.Certificate, serial: string): void => {
  cert.serialNumber = serial
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000)
  cert.validity.notAfter = new Date(Date.now() + 3650 * 24 * 3600 * 1000)
}

export const fingerprintOfPem = (certPem: string): string => {
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(forge.pki.certificateFromPem(certPem))).getBytes()
  const hex = createHash("sha256").update(Buffer.from(der, "binary")).digest("hex").toUpperCase()
  return hex.match(/../g)?.join(":") ?? ""
}

export const generateTls = (): SimTls => {
  const caKeys = rsaKeyPair()
  const ca = forge.pki.createCertificate()
  ca.publicKey = caKeys.publicKey
  validity(ca, "01")
  const caName = [{ name: "commonName", value: "felhom sim CA" }, { name: "organizationName", value: "felhom" }]
  ca.setSubject(caName)
  ca.setIssuer(caName)
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" }
  ])
  ca.sign(caKeys.privateKey, forge.md.sha256.create())

  const leafKeys = rsaKeyPair()
  const leaf = forge.pki.createCertificate()
  leaf.publicKey = leafKeys.publicKey
  validity(leaf, "02")
  leaf.setSubject([{ name: "commonName", value: "localhost" }, { name: "organizationName", value: "felhom" }])
  leaf.setIssuer(caName)
  leaf.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }] }
  ])
  leaf.sign(caKeys.privateKey, forge.md.sha256.create())

  const certPem = forge.pki.certificateToPem(leaf)
  return {
    caPem: forge.pki.certificateToPem(ca),
    certPem,
    keyPem: forge.pki.privateKeyToPem(leafKeys.privateKey),
    fingerprint: fingerprintOfPem(certPem)
  }
}
